package pretrained

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/go-huggingface/hub"
)

// HubOptions say where a Hugging Face Hub checkpoint comes from and where it is cached.
type HubOptions struct {
	// Endpoint of the hub; "" means $HF_ENDPOINT, else https://huggingface.co. These machines cannot reach
	// the real hub: tests serve the same layout from a local HTTP server.
	Endpoint string
	// CacheDir is the huggingface_hub-compatible cache; "" means $XDG_CACHE_HOME/huggingface/hub or
	// ~/.cache/huggingface/hub. A checkpoint already there is used without any network access.
	CacheDir string
	Revision string // branch, tag or commit; "" means main
	Token    string // access token for gated or private repositories
}

// hubFiles are the files Download fetches when the repository has them; config.json and the weights are
// required, model.safetensors.index.json brings its shards.
var hubFiles = []string{"config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json",
	"tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "modules.json", "sentence_bert_config.json",
	"1_Pooling/config.json"}

// Download fetches a BERT-family checkpoint from the Hub by repository id (e.g.
// "sentence-transformers/all-MiniLM-L6-v2") into the cache, verifies every large file against the SHA-256
// the hub lists for it, and opens it. Only safetensors weights are fetched: a repository with only
// pytorch_model.bin is refused (unpickling runs code). Network and hub failures wrap ErrFetch; problems with
// the files themselves wrap ErrCheckpoint.
func Download(repoID string, opts HubOptions) (*Checkpoint, error) {
	repo := hub.New(repoID).WithProgressBar(false)
	repo.Verbosity = 0
	if opts.Endpoint != "" {
		repo = repo.WithEndpoint(strings.TrimSuffix(opts.Endpoint, "/"))
	}
	if opts.CacheDir != "" {
		repo = repo.WithCacheDir(opts.CacheDir)
	}
	if opts.Revision != "" {
		repo = repo.WithRevision(opts.Revision)
	}
	if opts.Token != "" {
		repo = repo.WithAuth(opts.Token)
	}
	if err := repo.DownloadInfo(false); err != nil {
		return nil, fmt.Errorf("%w: hub repository %q: %w", ErrFetch, repoID, err)
	}
	info := repo.Info()
	available := map[string]*hub.FileInfo{}
	for _, f := range info.Siblings {
		available[f.Name] = f
	}
	if available["config.json"] == nil {
		return nil, fmt.Errorf("%w: hub repository %q has no config.json", ErrCheckpoint, repoID)
	}
	var want []string
	for _, f := range hubFiles {
		if available[f] != nil {
			want = append(want, f)
		}
	}
	switch {
	case available["model.safetensors.index.json"] != nil:
		paths, err := repo.DownloadFiles("model.safetensors.index.json")
		if err != nil {
			return nil, fmt.Errorf("%w: hub repository %q: %w", ErrFetch, repoID, err)
		}
		shards, err := indexShards(paths[0])
		if err != nil {
			return nil, err
		}
		for _, s := range shards {
			if available[s] == nil {
				return nil, fmt.Errorf("%w: hub repository %q: index names shard %q, which the repository lacks", ErrCheckpoint, repoID, s)
			}
			want = append(want, s)
		}
	case available["model.safetensors"] != nil:
	case available["pytorch_model.bin"] != nil:
		return nil, fmt.Errorf("%w: hub repository %q has pytorch_model.bin but no model.safetensors: only safetensors "+
			"weights are loaded (PyTorch .bin files are pickles, and unpickling runs code)", ErrCheckpoint, repoID)
	default:
		return nil, fmt.Errorf("%w: hub repository %q has no model.safetensors", ErrCheckpoint, repoID)
	}
	paths, err := repo.DownloadFiles(want...)
	if err != nil {
		return nil, fmt.Errorf("%w: hub repository %q: %w", ErrFetch, repoID, err)
	}
	for i, name := range want {
		if lfs := available[name].LFS; lfs != nil && lfs.SHA256 != "" {
			if err := verifySHA256(paths[i], lfs.SHA256); err != nil {
				return nil, fmt.Errorf("%w: hub repository %q, file %s: %w", ErrCheckpoint, repoID, name, err)
			}
		}
	}
	// Every file sits in the snapshot directory of the resolved commit; config.json is at its top.
	return Open(filepath.Dir(paths[slices.Index(want, "config.json")]))
}

// indexShards lists the shard files named by a model.safetensors.index.json.
func indexShards(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	var shards []string
	for _, f := range idx.WeightMap {
		if !slices.Contains(shards, f) {
			shards = append(shards, f)
		}
	}
	slices.Sort(shards)
	return shards, nil
}

// verifySHA256 checks a downloaded file against the hash the hub lists (go-huggingface keys its cache by the
// ETag but does not hash what it received).
func verifySHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(want) {
		return fmt.Errorf("SHA-256 %s, the hub lists %s (corrupt download: delete %s and retry)", got, want, path)
	}
	return nil
}
