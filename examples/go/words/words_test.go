package words

import "testing"

func TestCount(t *testing.T) {
	if got := Count("one two  three"); got != 3 {
		t.Errorf("Count = %d, want 3", got)
	}
}

func TestEmpty(t *testing.T) {
	if got := Count(""); got != 0 {
		t.Errorf("Count = %d, want 0", got)
	}
}
