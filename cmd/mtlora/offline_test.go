package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The toolkit touches the network only when a download is asked for: run inside a network namespace with
// no interfaces but loopback (unshare -rn), the synthetic demo, an mtbench training run on the fetched
// MiniLM and prepared data, and its report (with what the adapters learned, over training and per layer) all succeed, while a hub download fails — it is the one that
// tried to connect.
func TestOfflineNeedsNoNetwork(t *testing.T) {
	if os.Getenv("MTLORA_OFFLINE_CHILD") == "1" {
		dir := t.TempDir()
		if err := runDemo([]string{"-data", "synthetic", "-steps", "3", "-methods", "lora,mtl-lora", "-dir", filepath.Join(dir, "demo")}); err != nil {
			t.Fatalf("demo offline: %v", err)
		}
		run := filepath.Join(dir, "run")
		if err := runTrain([]string{"-data", "mtbench", "-steps", "2", "-batch_size", "4", "-seq_len", "16", "-eval_max", "4",
			"-warmup", "0", "-dir", run}); err != nil {
			t.Fatalf("mtbench training offline: %v", err)
		}
		if err := runReport([]string{run}); err != nil {
			t.Fatalf("report offline: %v", err)
		}
		// The MTL-LoRA run's report shows what it learned: a Λ_t heatmap per adapted layer (q, k, v, o in
		// MiniLM's 6 blocks) and the mixing weights of all of them.
		page, err := os.ReadFile(filepath.Join(run, "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(page), `"text":"Λ_t diagonal — `); n != 24 || !strings.Contains(string(page), "Mixing weights softmax(w_t/τ) per layer") {
			t.Errorf("the report shows %d Λ_t diagonal heatmaps (want 24) or lacks the mixing weights", n)
		}
		if !strings.Contains(string(page), `"text":"Λ_t over training"`) || !strings.Contains(string(page), `"text":"Mixing weights over training"`) {
			t.Errorf("the report lacks the task transforms over training")
		}
		err = runFetchModel([]string{"-hub", "sentence-transformers/all-MiniLM-L6-v2", "-cache", filepath.Join(dir, "hub")})
		if err == nil {
			t.Fatal("a hub download succeeded without a network")
		}
		t.Logf("hub download offline: %v", err)
		return
	}
	if testing.Short() {
		t.Skip("runs a demo and a MiniLM training in a child process")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("no unshare(1) to cut the network: %v", err)
	}
	if err := exec.Command(unshare, "-rn", "true").Run(); err != nil {
		t.Skipf("cannot create a network namespace here (unshare -rn): %v", err)
	}
	cmd := exec.Command(unshare, "-rn", os.Args[0], "-test.run", "^TestOfflineNeedsNoNetwork$", "-test.v")
	cmd.Env = append(os.Environ(), "MTLORA_OFFLINE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("offline child failed (%v):\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "hub download offline") {
			t.Log(strings.TrimSpace(line))
		}
	}
}
