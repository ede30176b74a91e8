package sqlfilter

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies a token.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokQuotedIdent // "name"
	tokBracketIdent
	tokKeyword // text holds the upper-case keyword
	tokString
	tokInt   // text holds the digits
	tokFloat // text holds the literal
	tokParam // text holds the name including '@'
	tokOp    // punctuation and operators; text holds it
)

// token is one lexeme with the byte offset where it starts.
type token struct {
	kind tokKind
	text string // identifier or string value with quotes undone
	pos  int
}

// keywords are the reserved words; a regular identifier can't be one
// (service-bus-messaging-sql-filter, "property_name").
var keywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "IS": true, "NULL": true, "IN": true,
	"LIKE": true, "ESCAPE": true, "EXISTS": true, "TRUE": true, "FALSE": true,
	"SET": true, "REMOVE": true,
}

// lexer turns the text into tokens on demand.
type lexer struct {
	src string
	off int
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of text"
	case tokString:
		return "string '" + t.text + "'"
	case tokKeyword:
		return t.text
	case tokIdent, tokQuotedIdent, tokBracketIdent:
		return "name " + quoteName(t.text)
	default:
		return `"` + t.text + `"`
	}
}

// next scans one token; a lexical error comes back as *SyntaxError.
func (l *lexer) next() (token, error) {
	for l.off < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.off:])
		if !unicode.IsSpace(r) {
			break
		}
		l.off += n
	}
	start := l.off
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	switch {
	case r == utf8.RuneError && n == 1:
		return token{}, syntaxErr(l.src, start, "invalid UTF-8")
	case unicode.IsLetter(r):
		l.off += n
		l.identTail()
		word := l.src[start:l.off]
		if up := strings.ToUpper(word); keywords[up] {
			return token{kind: tokKeyword, text: up, pos: start}, nil
		}
		return token{kind: tokIdent, text: word, pos: start}, nil
	case r >= '0' && r <= '9', r == '.' && l.digitAt(l.off+1):
		return l.number(start)
	case r == '\'':
		s, err := l.quoted('\'', "string")
		return token{kind: tokString, text: s, pos: start}, err
	case r == '"':
		s, err := l.quoted('"', "quoted name")
		if err == nil && s == "" {
			err = syntaxErr(l.src, start, "empty quoted name")
		}
		return token{kind: tokQuotedIdent, text: s, pos: start}, err
	case r == '[':
		s, err := l.quoted(']', "bracketed name")
		if err == nil && s == "" {
			err = syntaxErr(l.src, start, "empty bracketed name")
		}
		return token{kind: tokBracketIdent, text: s, pos: start}, err
	case r == '@':
		l.off++
		l.identTail()
		if l.off == start+1 {
			return token{}, syntaxErr(l.src, start, `expected parameter name after "@"`)
		}
		return token{kind: tokParam, text: l.src[start:l.off], pos: start}, nil
	}
	for _, op := range [...]string{"<>", "!=", ">=", "<=", "=", ">", "<", "(", ")", ",", ".", ";", "+", "-", "*", "/", "%"} {
		if strings.HasPrefix(l.src[l.off:], op) {
			l.off += len(op)
			return token{kind: tokOp, text: op, pos: start}, nil
		}
	}
	return token{}, syntaxErr(l.src, start, "unexpected character "+quoteRune(r))
}

// identTail consumes [_\pL\pNd]*.
func (l *lexer) identTail() {
	for l.off < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.off:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return
		}
		l.off += n
	}
}

func (l *lexer) digitAt(i int) bool { return i < len(l.src) && l.src[i] >= '0' && l.src[i] <= '9' }

// number scans digits [. digits] [e [+-] digits]; a '.' or exponent makes a
// float (decimal and approximate constants are System.Double).
func (l *lexer) number(start int) (token, error) {
	kind := tokInt
	for l.digitAt(l.off) {
		l.off++
	}
	if l.off < len(l.src) && l.src[l.off] == '.' {
		kind = tokFloat
		l.off++
		for l.digitAt(l.off) {
			l.off++
		}
	}
	if l.off < len(l.src) && (l.src[l.off] == 'e' || l.src[l.off] == 'E') {
		kind = tokFloat
		l.off++
		if l.off < len(l.src) && (l.src[l.off] == '+' || l.src[l.off] == '-') {
			l.off++
		}
		if !l.digitAt(l.off) {
			return token{}, syntaxErr(l.src, start, "malformed number "+quoteText(l.src[start:l.off]))
		}
		for l.digitAt(l.off) {
			l.off++
		}
	}
	if l.off < len(l.src) {
		if r, _ := utf8.DecodeRuneInString(l.src[l.off:]); r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return token{}, syntaxErr(l.src, start, "malformed number "+quoteText(l.src[start:l.off]+string(r)))
		}
	}
	return token{kind: kind, text: l.src[start:l.off], pos: start}, nil
}

// quoted scans an opening character, then text up to close, where a doubled close stands for itself.
func (l *lexer) quoted(close byte, what string) (string, error) {
	start := l.off
	l.off++ // open
	var b strings.Builder
	for {
		i := strings.IndexByte(l.src[l.off:], close)
		if i < 0 {
			l.off = len(l.src)
			return "", syntaxErr(l.src, start, "unterminated "+what)
		}
		b.WriteString(l.src[l.off : l.off+i])
		l.off += i + 1
		if l.off < len(l.src) && l.src[l.off] == close {
			b.WriteByte(close)
			l.off++
			continue
		}
		return b.String(), nil
	}
}

// syntaxErr builds a *SyntaxError at byte offset off of src.
func syntaxErr(src string, off int, msg string) *SyntaxError {
	line, col := position(src, off)
	return &SyntaxError{Line: line, Column: col, Offset: off, Msg: msg}
}

// position converts a byte offset to a 1-based line and code-point column.
func position(src string, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	line, col = 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return line, col
}

func quoteRune(r rune) string {
	if unicode.IsPrint(r) {
		return `"` + string(r) + `"`
	}
	return fmt.Sprintf("U+%04X", r)
}

func quoteText(s string) string { return `"` + s + `"` }
