// Package words is more code under test.
package words

import "strings"

// Count returns how many words s holds.
func Count(s string) int { return len(strings.Fields(s)) }
