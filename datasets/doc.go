// Package datasets reads multi-task data on Apache Arrow and turns it into batches.
//
// # Files
//
// Scan streams record batches from Parquet (by row group), Arrow IPC files and streams, CSV and JSON Lines —
// one file, a folder of shards (with the format given, shards without an extension too) or hive-style
// partition folders (task=NAME/part-0.parquet, the key becoming a column). Errors wrap ErrData and name the
// file, row and column.
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
