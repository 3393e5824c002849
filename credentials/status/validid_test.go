package status

import "testing"

func TestValidListID(t *testing.T) {
	for id, want := range map[string]bool{
		"0123456789abcdef": true, "1bfa19da8626bd41": true,
		"": false, "0123456789abcde": false, "0123456789abcdef0": false,
		"0123456789ABCDEF": false, "0123456789abcdeg": false, "0123456789abcde/": false, "0123456789abcde:": false,
		"0123456789abcde`": false, "0123456789abcde\x00": false, "0123456789abcdé": false,
	} {
		if got := ValidListID(id); got != want {
			t.Errorf("ValidListID(%q) = %v, want %v", id, got, want)
		}
	}
}
