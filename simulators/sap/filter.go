package sap

import (
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
)

// The $filter subset the simulator understands:
//
//	expr    := and ("or" and)*
//	and     := unary ("and" unary)*
//	unary   := "not" unary | "(" expr ")" | call | operand op operand
//	op      := eq | ne | gt | ge | lt | le
//	call    := substringof(lit, prop) | startswith(prop, lit) | endswith(prop, lit)
//	operand := Property | nav/Property (to-one navigation) | literal
//	literal := 'text' ('' escapes a quote) | datetime'2021-01-04T00:00:00'
//	         | datetimeoffset'2021-01-04T00:00:00Z' | 12 | 12.5 | 12.5M | true | false | null
//
// Anything else is refused with 400, as a real gateway refuses what it
// cannot parse.

type token struct {
	kind string // "ident", "string", "datetime", "number", "(", ")", ",", "="
	text string
}

func tokenize(src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == ')' || c == ',' || c == '=':
			toks = append(toks, token{kind: string(c)})
			i++
		case c == '\'':
			s, n, err := quoted(rs[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: "string", text: s})
			i += n
		case c == '-' || c == '+' || unicode.IsDigit(c):
			j := i + 1
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			if j < len(rs) && strings.ContainsRune("mMdDfFlL", rs[j]) {
				j++
			}
			toks = append(toks, token{kind: "number", text: string(rs[i:j])})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i + 1
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '/') {
				j++
			}
			word := string(rs[i:j])
			if j < len(rs) && rs[j] == '\'' && (strings.EqualFold(word, "datetime") || strings.EqualFold(word, "datetimeoffset")) {
				s, n, err := quoted(rs[j:])
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: "datetime", text: s})
				i = j + n
				continue
			}
			toks = append(toks, token{kind: "ident", text: word})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q at position %d", c, i+1)
		}
	}
	return toks, nil
}

// quoted reads a single-quoted literal at the start of rs and returns its
// text and the number of runes consumed.
func quoted(rs []rune) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(rs); i++ {
		if rs[i] == '\'' {
			if i+1 < len(rs) && rs[i+1] == '\'' {
				b.WriteRune('\'')
				i++
				continue
			}
			return b.String(), i + 1, nil
		}
		b.WriteRune(rs[i])
	}
	return "", 0, fmt.Errorf("unterminated string literal")
}

// operand is a property path or a literal.
type operand struct {
	path []string // nil for a literal; [prop] or [nav, prop]
	kind string   // literal kind: "string", "datetime", "number", "bool", "null"
	text string
}

type filterNode interface {
	eval(s *Simulator, es *entitySet, r row) (bool, error)
}

type logical struct {
	and         bool
	left, right filterNode
}

type negation struct{ inner filterNode }

type comparison struct {
	op          string
	left, right operand
}

type call struct {
	name       string
	prop, text operand
}

type filterParser struct {
	toks []token
	pos  int
	es   *entitySet
	svc  *service
}

// parseFilter parses a $filter value and checks every property it names
// against es.
func parseFilter(src string, es *entitySet, svc *service) (filterNode, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks, es: es, svc: svc}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		return nil, fmt.Errorf("unexpected %s %q after the end of the expression", t.kind, t.text)
	}
	return n, nil
}

func (p *filterParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *filterParser) keyword(word string) bool {
	if t, ok := p.peek(); ok && t.kind == "ident" && strings.EqualFold(t.text, word) {
		p.pos++
		return true
	}
	return false
}

func (p *filterParser) expect(kind string) error {
	t, ok := p.peek()
	if !ok || t.kind != kind {
		return fmt.Errorf("expected %q", kind)
	}
	p.pos++
	return nil
}

func (p *filterParser) expr() (filterNode, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = logical{and: false, left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) and() (filterNode, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		left = logical{and: true, left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) unary() (filterNode, error) {
	if p.keyword("not") {
		n, err := p.unary()
		return negation{n}, err
	}
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	if t.kind == "(" {
		p.pos++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		return n, p.expect(")")
	}
	if t.kind == "ident" && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == "(" {
		return p.call()
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	opTok, ok := p.peek()
	if !ok || opTok.kind != "ident" {
		return nil, fmt.Errorf("expected a comparison operator after %s", describe(left))
	}
	op := strings.ToLower(opTok.text)
	switch op {
	case "eq", "ne", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("operator %q is not supported (use eq, ne, gt, ge, lt, le)", opTok.text)
	}
	p.pos++
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	if left.path == nil && right.path == nil {
		return nil, fmt.Errorf("a comparison needs a property on one side")
	}
	c := comparison{op: op, left: left, right: right}
	if err := c.check(p.es, p.svc); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *filterParser) call() (filterNode, error) {
	name := strings.ToLower(p.toks[p.pos].text)
	p.pos += 2
	a, err := p.operand()
	if err != nil {
		return nil, err
	}
	if err := p.expect(","); err != nil {
		return nil, err
	}
	b, err := p.operand()
	if err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	c := call{name: name}
	switch name {
	case "substringof":
		c.text, c.prop = a, b
	case "startswith", "endswith":
		c.prop, c.text = a, b
	default:
		return nil, fmt.Errorf("function %q is not supported (use substringof, startswith, endswith)", name)
	}
	if c.prop.path == nil || c.text.kind != "string" {
		return nil, fmt.Errorf("%s needs a property and a string literal", name)
	}
	pr, err := resolveProp(c.prop.path, p.es, p.svc)
	if err != nil {
		return nil, err
	}
	if pr.Type != edmString {
		return nil, fmt.Errorf("%s needs a string property, %s is %s", name, pr.Name, pr.Type)
	}
	// A trailing "eq true" is allowed: substringof('x',P) eq true.
	if p.keyword("eq") {
		if !p.keyword("true") {
			return nil, fmt.Errorf("only \"eq true\" may follow %s", name)
		}
	}
	return c, nil
}

func (p *filterParser) operand() (operand, error) {
	t, ok := p.peek()
	if !ok {
		return operand{}, fmt.Errorf("unexpected end of expression")
	}
	p.pos++
	switch t.kind {
	case "string", "datetime", "number":
		return operand{kind: t.kind, text: t.text}, nil
	case "ident":
		switch strings.ToLower(t.text) {
		case "true", "false":
			return operand{kind: "bool", text: strings.ToLower(t.text)}, nil
		case "null":
			return operand{kind: "null"}, nil
		}
		path := strings.Split(t.text, "/")
		if _, err := resolveProp(path, p.es, p.svc); err != nil {
			return operand{}, err
		}
		return operand{path: path}, nil
	}
	return operand{}, fmt.Errorf("unexpected %q", t.kind)
}

func describe(o operand) string {
	if o.path != nil {
		return strings.Join(o.path, "/")
	}
	return "'" + o.text + "'"
}

// resolveProp finds the property a path names: Prop, or nav/Prop through a
// to-one navigation.
func resolveProp(path []string, es *entitySet, svc *service) (prop, error) {
	switch len(path) {
	case 1:
		if pr, ok := es.prop(path[0]); ok {
			return pr, nil
		}
		return prop{}, fmt.Errorf("property %s is not a property of %s", path[0], es.Type)
	case 2:
		n, ok := es.nav(path[0])
		if !ok {
			return prop{}, fmt.Errorf("property %s is not a navigation property of %s", path[0], es.Type)
		}
		if n.Many {
			return prop{}, fmt.Errorf("navigation property %s leads to many entities and cannot be filtered on", path[0])
		}
		if pr, ok := svc.set(n.Target).prop(path[1]); ok {
			return pr, nil
		}
		return prop{}, fmt.Errorf("property %s is not a property of %s", path[1], svc.set(n.Target).Type)
	}
	return prop{}, fmt.Errorf("property path %s is too deep", strings.Join(path, "/"))
}

func (c comparison) check(es *entitySet, svc *service) error {
	for _, pair := range [][2]operand{{c.left, c.right}, {c.right, c.left}} {
		if pair[0].path == nil {
			continue
		}
		pr, _ := resolveProp(pair[0].path, es, svc)
		if lit := pair[1]; lit.path == nil {
			if _, err := literalValue(pr, lit); err != nil {
				return err
			}
		}
		if (c.op != "eq" && c.op != "ne") && pr.Type == edmBoolean {
			return fmt.Errorf("operator %s is not defined for %s", c.op, pr.Type)
		}
	}
	return nil
}

// literalValue converts a literal to a value of the property's type.
func literalValue(pr prop, lit operand) (any, error) {
	if lit.kind == "null" {
		return nil, nil
	}
	bad := fmt.Errorf("literal %s does not fit property %s of type %s", describe(lit), pr.Name, pr.Type)
	switch pr.Type {
	case edmString:
		if lit.kind != "string" {
			return nil, bad
		}
		return lit.text, nil
	case edmDecimal:
		text := strings.TrimRight(lit.text, "mMdDfFlL")
		if lit.kind != "number" && lit.kind != "string" {
			return nil, bad
		}
		r, ok := new(big.Rat).SetString(text)
		if !ok {
			return nil, bad
		}
		return r, nil
	case edmDateTime, edmDateTimeOffset:
		if lit.kind != "datetime" {
			return nil, fmt.Errorf("property %s of type %s compares with datetime'2021-01-04T00:00:00', not %s", pr.Name, pr.Type, describe(lit))
		}
		t, err := parseLiteralTime(lit.text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", describe(lit), err)
		}
		return t, nil
	case edmBoolean:
		if lit.kind != "bool" {
			return nil, bad
		}
		return lit.text == "true", nil
	case edmTime:
		return nil, fmt.Errorf("filtering on %s of type %s is not supported", pr.Name, pr.Type)
	}
	return nil, bad
}

func parseLiteralTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date and time (want 2021-01-04T00:00:00)")
}

func (n logical) eval(s *Simulator, es *entitySet, r row) (bool, error) {
	l, err := n.left.eval(s, es, r)
	if err != nil {
		return false, err
	}
	if n.and && !l {
		return false, nil
	}
	if !n.and && l {
		return true, nil
	}
	return n.right.eval(s, es, r)
}

func (n negation) eval(s *Simulator, es *entitySet, r row) (bool, error) {
	v, err := n.inner.eval(s, es, r)
	return !v, err
}

// value returns an operand's property definition and value on row r.
func (o operand) value(s *Simulator, es *entitySet, r row) (prop, any) {
	svc := s.services[es.Service]
	pr, _ := resolveProp(o.path, es, svc)
	if len(o.path) == 2 {
		n, _ := es.nav(o.path[0])
		rel := n.Resolve(s, r)
		if len(rel) == 0 {
			return pr, nil
		}
		return pr, rel[0][pr.Name]
	}
	return pr, r[pr.Name]
}

func (c comparison) eval(s *Simulator, es *entitySet, r row) (bool, error) {
	prop0, lit, op := c.left, c.right, c.op
	if prop0.path == nil {
		prop0, lit = lit, prop0
		op = map[string]string{"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}[op]
	}
	pr, v := prop0.value(s, es, r)
	var w any
	if lit.path != nil {
		_, w = lit.value(s, es, r)
	} else {
		w, _ = literalValue(pr, lit)
	}
	cmp, comparable := compareValues(pr.Type, v, w)
	if !comparable {
		// null compares equal only to null.
		switch op {
		case "eq":
			return isNull(v) && isNull(w), nil
		case "ne":
			return isNull(v) != isNull(w), nil
		}
		return false, nil
	}
	switch op {
	case "eq":
		return cmp == 0, nil
	case "ne":
		return cmp != 0, nil
	case "gt":
		return cmp > 0, nil
	case "ge":
		return cmp >= 0, nil
	case "lt":
		return cmp < 0, nil
	case "le":
		return cmp <= 0, nil
	}
	return false, nil
}

func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case time.Time:
		return x.IsZero()
	}
	return false
}

// compareValues compares a property value with a literal value or another
// property value; comparable is false when either side is null.
func compareValues(typ string, a, b any) (int, bool) {
	if isNull(a) || isNull(b) {
		return 0, false
	}
	switch typ {
	case edmString:
		return strings.Compare(a.(string), b.(string)), true
	case edmDecimal:
		return toRat(a).Cmp(toRat(b)), true
	case edmDateTime, edmDateTimeOffset:
		return a.(time.Time).Compare(b.(time.Time)), true
	case edmBoolean:
		x, y := a.(bool), b.(bool)
		if x == y {
			return 0, true
		}
		if !x {
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func toRat(v any) *big.Rat {
	switch x := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(x)
	case *big.Rat:
		return x
	}
	return new(big.Rat)
}

func (c call) eval(s *Simulator, es *entitySet, r row) (bool, error) {
	_, v := c.prop.value(s, es, r)
	text, _ := v.(string)
	switch c.name {
	case "substringof":
		return strings.Contains(text, c.text.text), nil
	case "startswith":
		return strings.HasPrefix(text, c.text.text), nil
	case "endswith":
		return strings.HasSuffix(text, c.text.text), nil
	}
	return false, nil
}
