//go:build onnx

package backend

import (
	onnxbackend "github.com/gomlx/compute-onnx"
)

// ONNX Runtime is compiled in only with -tags onnx. It never downloads its shared library by itself (its
// default is to fetch one from GitHub at first use): `mtlora fetch-onnxruntime` installs the one from the
// npm package onnxruntime-node, and New points the backend at it.
func init() {
	onnxbackend.EnableAutoInstall(false)
	onnxCompiled = true
}
