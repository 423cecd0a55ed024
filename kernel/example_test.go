package kernel_test

import (
	"fmt"

	"github.com/mtlora/mtlora/kernel"
)

// Tables for notebook cells escape every cell, so data-derived text cannot inject markup; outside a
// notebook the display calls do nothing.
func ExampleTableHTML() {
	fmt.Println(kernel.TableHTML([]string{"task", "score"}, [][]string{{"<b>spam</b>", "0.91"}}))
	fmt.Println(kernel.InNotebook())
	// Output:
	// <table style="border-collapse:collapse"><tr><th style="border:1px solid #ccc;padding:2px 6px">task</th><th style="border:1px solid #ccc;padding:2px 6px">score</th></tr><tr><td style="border:1px solid #ccc;padding:2px 6px">&lt;b&gt;spam&lt;/b&gt;</td><td style="border:1px solid #ccc;padding:2px 6px">0.91</td></tr></table>
	// false
}
