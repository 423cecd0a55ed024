// Package experiment turns a plan into trained, evaluated runs: the one path from a command-line flag, a plan
// file or a notebook cell to the graph.
//
// # Configuration
//
// Config is one run: the data (mtbench, synthetic, a dataset spec or your own file), the model (minilm, a
// checkpoint directory or hub:ORG/NAME), the adapter (mtlcore.Config, embedded) and the training. Every
// hyperparameter has one name — its JSON key — shared by the flag, the config and plan files, Vary, the Go
// field and the results table's column (Hyperparameters lists them). Defaults holds the one set of defaults,
// with where each comes from. A value that is not allowed is an error naming its field, never a fallback.
//
// # Plans
//
// Plan is a Config and hyperparameters to Vary; Plan.Runs resolves it against its data and model (task names,
// num_tasks, budget_rank's matched rank, parameter counts) into Runs. A plan without Vary is one run.
// Execute and ExecuteOnce train one run in its folder (resumable); RunSweep runs many, never repeating a
// finished run, and writes the results table (Parquet). OpenRun loads a finished text run to Evaluate other
// data, Predict and Export (PEFT adapters, merged checkpoints).
//
// # Data
//
// OpenData resolves a data name; a bare file's spec is inferred (datasets.InferSpec) and every text run saves
// the spec it trained on (SpecFile) for the user to edit. Task kinds: classification, regression, text pairs
// and multiple choice (a per-task scorer over each example's candidates, zoo.BERTChoiceModel).
package experiment
