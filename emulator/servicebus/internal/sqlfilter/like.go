package sqlfilter

import (
	"fmt"
	"unicode/utf8"
)

// likeElem is one compiled pattern element: a literal rune, '_' (any one
// character) or '%' (any run of characters).
type likeElem struct {
	r    rune
	kind byte // 'l' literal, '_' one, '%' any
}

// compileLike turns a LIKE pattern into elements. escape < 0 means none.
// The escape character makes the following character literal, whatever it
// is (service-bus-messaging-sql-filter, "escape_char"); a pattern ending in
// the escape character is an error, as in T-SQL.
func compileLike(pattern string, escape rune) ([]likeElem, error) {
	elems := make([]likeElem, 0, len(pattern))
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case escape >= 0 && r == escape:
			if i+1 == len(rs) {
				return nil, fmt.Errorf("%w: pattern %q ends with the escape character", ErrInvalidEscape, pattern)
			}
			i++
			elems = append(elems, likeElem{r: rs[i], kind: 'l'})
		case r == '%':
			if n := len(elems); n > 0 && elems[n-1].kind == '%' {
				continue // %% is %
			}
			elems = append(elems, likeElem{kind: '%'})
		case r == '_':
			elems = append(elems, likeElem{kind: '_'})
		default:
			elems = append(elems, likeElem{r: r, kind: 'l'})
		}
	}
	return elems, nil
}

// matchLike reports whether s matches the whole compiled pattern. Matching
// is ordinal (case-sensitive) per code point. It is the classic greedy
// wildcard algorithm: on a mismatch it backtracks only to the last '%',
// so it runs in O(len(s) * len(pattern)) at worst.
func matchLike(s string, p []likeElem) bool {
	si, pi := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		r, n := utf8.DecodeRuneInString(s[si:])
		if pi < len(p) {
			switch e := p[pi]; e.kind {
			case '%':
				starP, starS = pi, si
				pi++
				continue
			case '_':
				si += n
				pi++
				continue
			default:
				if e.r == r {
					si += n
					pi++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last % swallow one more character and retry.
		_, n0 := utf8.DecodeRuneInString(s[starS:])
		starS += n0
		si = starS
		pi = starP + 1
	}
	for pi < len(p) && p[pi].kind == '%' {
		pi++
	}
	return pi == len(p)
}
