package config

import (
	"fmt"
	"strings"
)

// nearest returns the known word closest to got, or "" when none is close
// enough to be a plausible typo. Spelling variants (case, '-' for '_') match
// outright, as does a word that one of them starts (addr, device).
func nearest(got string, known []string) string {
	norm := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(s), "-", "_"), " ", "_")
	}
	g := norm(got)
	if g == "" {
		return ""
	}
	best, bestDist := "", -1
	for _, k := range known {
		n := norm(k)
		if n == g || strings.ReplaceAll(n, "_", "") == strings.ReplaceAll(g, "_", "") {
			return k
		}
		d := editDistance(g, n)
		if len(g) >= 3 && len(n) >= 3 && (strings.HasPrefix(n, g) || strings.HasPrefix(g, n)) {
			d = min(d, 1)
		}
		if d <= closeEnough(len(n)) && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// closeEnough is how many edits still read as a typo of a word of length n:
// one in a short word, more in a long one.
func closeEnough(n int) int {
	switch {
	case n <= 3:
		return 1
	case n <= 8:
		return 2
	default:
		return 3
	}
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost one, so that
// "singal" is one edit from "signal".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// didYouMean renders the suggestion part of a message: `; did you mean
// "x"?` or nothing.
func didYouMean(got string, known []string) string {
	if s := nearest(got, known); s != "" && s != got {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// orList renders words as `a, b or c` for messages about values.
func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
