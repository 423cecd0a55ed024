// Package datasets reads multi-task data on Apache Arrow and turns it into batches.
//
// # Files
//
// Scan streams record batches from Parquet (by row group), Arrow IPC files and streams, CSV and JSON Lines —
// one file, a folder of shards (with the format given, shards without an extension too) or hive-style
// partition folders (task=NAME/part-0.parquet, the key becoming a column). Errors wrap ErrData and name the
// file, row and column.
//
// # Integrity
//
// A read gives the rows a file holds or an error: Parquet row counts are checked per row group and file and
// page checksums verified where a writer wrote them; Arrow IPC metadata is bounds-checked before arrow-go
// decodes it, a file's footer must account for every record batch and a stream must end with its
// end-of-stream marker; every batch is validated before a value is read. CSV is read byte for byte (an empty
// unquoted field is null, "" the empty text). Texts must be valid UTF-8 in every format, and the texts of
// Examples are copies, not views into Arrow buffers, so any allocator may be passed in ReadOptions.Mem.
//
// # Specs and tasks
//
// A Spec says which columns hold the text, the second text of pairs, the label, the task, the split and the
// choices of multiple-choice tasks, and describes each task: classification (a label vocabulary), regression,
// text pair, or multiple choice (a context, optionally a question, K ≥ 2 candidates, the label being the
// right one's index). InferSpec writes the spec of a bare file with the default column names. Labels match
// by value (LabelKey): 1, 1.0 and "1" are one class, as are true and True. Load reads and checks every row;
// rows without a split column get a stable hash split (SplitOf).
//
// # Batches
//
// Samplers draw tasks (proportional, temperature, uniform, round-robin, quota); Batches turns a split into
// fixed-shape tokenized batches with task ids, as a GoMLX train.Dataset.
package datasets
