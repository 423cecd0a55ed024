package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/mtlora/mtlora/kernel"
)

func runNotebook(args []string) error {
	fs := flag.NewFlagSet("notebook", flag.ContinueOnError)
	installOnly := fs.Bool("install-only", false, "install GoNB and the \"Go (mtlora)\" kernel, then exit")
	noBrowser := fs.Bool("no-browser", false, "do not open a browser (print the URL)")
	port := fs.Int("port", 8888, "port of the Jupyter server")
	rawErrors := fs.Bool("raw-errors", false, "plain-text compile errors in cells (headless runs)")
	notebook := fs.String("open", "01-tutorial.ipynb", "notebook to open, relative to notebooks/")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora notebook [flags]

Builds GoNB v0.11.5, goimports and gopls at pinned versions (tools/gonb, tools/gopls), registers the
Jupyter kernel "Go (mtlora)" — its environment sets GOTOOLCHAIN=go1.27.3, GOEXPERIMENT=simd, PATH and the
backend — and starts Jupyter on the project's notebooks with the tutorial open. Each notebook's first cell
joins the project module with a go.work, so project packages import with no other setup.

Jupyter comes from Debian (apt-get install jupyter-notebook python3-nbclient jupyter-nbconvert) or PyPI
(pip install notebook nbclient nbconvert); when it is missing and this runs as root on Debian, it is
installed with apt-get (after apt-get update), with -install-only too; otherwise this says what to install.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := kernel.Install(kernel.InstallOptions{RawErrors: *rawErrors})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kernel %q installed in %s\n", kernel.KernelName, dir)
	jupyter, err := ensureJupyter()
	if err != nil {
		return err
	}
	if *installOnly {
		fmt.Fprintf(os.Stderr, "Jupyter: %s\n", jupyter)
		return nil
	}
	wd, _ := os.Getwd()
	root, err := kernel.ProjectRoot(wd)
	if err != nil {
		return err
	}
	cmdArgs := []string{"notebook", "--notebook-dir=" + filepath.Join(root, "notebooks"), fmt.Sprintf("--port=%d", *port), *notebook}
	if *noBrowser {
		cmdArgs = append(cmdArgs, "--no-browser")
	}
	if os.Geteuid() == 0 {
		cmdArgs = append(cmdArgs, "--allow-root") // Jupyter refuses root otherwise (containers, these machines)
	}
	cmd := exec.Command(jupyter, cmdArgs...)
	cmd.Dir = filepath.Join(root, "notebooks")
	cmd.Env = os.Environ()
	for k, v := range kernel.Toolchain {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

// ensureJupyter finds jupyter on PATH, or installs Debian's Jupyter with apt-get (package lists refreshed
// first) when running as root on Debian; otherwise it says what to install.
func ensureJupyter() (string, error) {
	if jupyter, err := exec.LookPath("jupyter"); err == nil {
		return jupyter, nil
	}
	if _, aptErr := exec.LookPath("apt-get"); aptErr != nil || os.Geteuid() != 0 {
		return "", fmt.Errorf("Jupyter is not installed: apt-get install jupyter-notebook python3-nbclient jupyter-nbconvert (Debian, as root) " +
			"or python3 -m pip install notebook nbclient nbconvert, then run mtlora notebook again")
	}
	fmt.Fprintln(os.Stderr, "Jupyter is not installed: installing Debian's jupyter-notebook, python3-nbclient and jupyter-nbconvert …")
	for _, args := range [][]string{{"update"}, {"install", "-y", "jupyter-notebook", "python3-nbclient", "jupyter-nbconvert"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("installing Jupyter: apt-get %s: %w", args[0], err)
		}
	}
	return exec.LookPath("jupyter")
}
