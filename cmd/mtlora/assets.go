package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mtlora/mtlora/plots"
)

func runFetchAssets(args []string) error {
	fs := flag.NewFlagSet("fetch-assets", flag.ContinueOnError)
	tarball := fs.String("tarball", "", "use this `FILE` (npm tarball of echarts@5.4.3) instead of running npm pack")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mtlora fetch-assets [-tarball FILE]\n\nFetches echarts.min.js from the npm package echarts@%s (SHA-512 checked) into the cache, so charts\nrender offline; prints its path.\n\nFlags:\n", plots.ECharts.Version)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := plots.FetchECharts(*tarball, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}
