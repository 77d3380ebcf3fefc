package tools

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	helix "github.com/helix-agents/helix-go"
)

// Calculator limits.
const (
	// MaxExpressionLength is the longest expression the calculator accepts,
	// in bytes.
	MaxExpressionLength = 1000
	// MaxExpressionDepth is the deepest nesting of parentheses, function
	// calls, signs and powers the calculator accepts.
	MaxExpressionDepth = 100
)

// CalcInput is the input of the calculator tool.
type CalcInput struct {
	Expression string `json:"expression" jsonschema:"required,description=Arithmetic expression such as (2+3)*sqrt(16)/2^3. Operators + - * / % ^ and parentheses; functions sqrt abs ln log10 exp sin cos tan floor ceil round min max; constants pi e,maxLength=1000"`
}

// CalcOutput is the result of the calculator tool.
type CalcOutput struct {
	Result float64 `json:"result"`
}

// Calculator returns the calculator tool. It evaluates arithmetic
// expressions with a hand-written parser; nothing is ever executed. It
// supports + - * / % and ^ (power, right-associative, binding tighter than
// unary minus: -2^2 is -4), parentheses, decimal and scientific numbers,
// the functions sqrt abs ln log10 exp sin cos tan floor ceil round (one
// argument) and min max (one or more), and the constants pi and e.
// Expressions longer than [MaxExpressionLength] or nested deeper than
// [MaxExpressionDepth], syntax errors, division by zero and results that are
// not finite numbers are tool errors.
func Calculator() *helix.Tool { return calculator(false) }

func calculator(approve bool) *helix.Tool {
	return helix.NewTool("calculator",
		"Evaluates an arithmetic expression and returns the number. Supports + - * / % ^, parentheses, sqrt abs ln log10 exp sin cos tan floor ceil round min max, pi, e.",
		func(_ context.Context, _ *helix.ToolContext, in CalcInput) (CalcOutput, error) {
			v, err := evaluate(in.Expression)
			if err != nil {
				return CalcOutput{}, err
			}
			return CalcOutput{Result: v}, nil
		}, approval(approve)...)
}

// evaluate parses and evaluates expr. It never panics and runs in time
// linear in len(expr).
func evaluate(expr string) (float64, error) {
	if len(expr) > MaxExpressionLength {
		return 0, fmt.Errorf("calculator: expression is %d bytes long, the limit is %d", len(expr), MaxExpressionLength)
	}
	p := &parser{s: expr}
	p.skipSpace()
	if p.pos == len(p.s) {
		return 0, errors.New("calculator: empty expression")
	}
	v, err := p.expr()
	if err != nil {
		return 0, err
	}
	if p.pos != len(p.s) {
		return 0, p.errorf("unexpected %q", p.s[p.pos:p.pos+1])
	}
	return v, nil
}

// parser is a recursive-descent evaluator over the grammar
//
//	expr    = term { ("+" | "-") term }
//	term    = unary { ("*" | "/" | "%") unary }
//	unary   = ("-" | "+") unary | power
//	power   = primary [ "^" unary ]
//	primary = number | name [ "(" expr { "," expr } ")" ] | "(" expr ")"
type parser struct {
	s     string
	pos   int
	depth int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("calculator: at position %d: %s", p.pos+1, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *parser) peek() byte {
	p.skipSpace()
	if p.pos == len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

// enter counts one level of nesting (a parenthesis, a call, a sign or an
// exponent); leave must follow. Every recursion passes through enter, which
// bounds the stack.
func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxExpressionDepth {
		return p.errorf("expression is nested too deeply (limit %d)", MaxExpressionDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) expr() (float64, error) {
	v, err := p.term()
	if err != nil {
		return 0, err
	}
	for {
		switch op := p.peek(); op {
		case '+', '-':
			p.pos++
			w, err := p.term()
			if err != nil {
				return 0, err
			}
			if op == '+' {
				v += w
			} else {
				v -= w
			}
			if err := p.check(v, string(op)); err != nil {
				return 0, err
			}
		default:
			return v, nil
		}
	}
}

func (p *parser) term() (float64, error) {
	v, err := p.unary()
	if err != nil {
		return 0, err
	}
	for {
		op := p.peek()
		if op != '*' && op != '/' && op != '%' {
			return v, nil
		}
		p.pos++
		w, err := p.unary()
		if err != nil {
			return 0, err
		}
		switch op {
		case '*':
			v *= w
		case '/':
			if w == 0 {
				return 0, errors.New("calculator: division by zero")
			}
			v /= w
		case '%':
			if w == 0 {
				return 0, errors.New("calculator: modulo by zero")
			}
			v = math.Mod(v, w)
		}
		if err := p.check(v, string(op)); err != nil {
			return 0, err
		}
	}
}

func (p *parser) unary() (float64, error) {
	c := p.peek()
	if c != '-' && c != '+' {
		return p.power()
	}
	p.pos++
	if err := p.enter(); err != nil {
		return 0, err
	}
	defer p.leave()
	v, err := p.unary()
	if c == '-' {
		v = -v
	}
	return v, err
}

func (p *parser) power() (float64, error) {
	base, err := p.primary()
	if err != nil {
		return 0, err
	}
	if p.peek() != '^' {
		return base, nil
	}
	p.pos++
	if err := p.enter(); err != nil {
		return 0, err
	}
	exp, err := p.unary()
	p.leave()
	if err != nil {
		return 0, err
	}
	if base == 0 && exp < 0 {
		return 0, errors.New("calculator: division by zero (zero to a negative power)")
	}
	v := math.Pow(base, exp)
	return v, p.check(v, "^")
}

func (p *parser) primary() (float64, error) {
	c := p.peek()
	switch {
	case c == 0:
		return 0, p.errorf("unexpected end of expression")
	case c == '(':
		p.pos++
		if err := p.enter(); err != nil {
			return 0, err
		}
		defer p.leave()
		v, err := p.expr()
		if err != nil {
			return 0, err
		}
		if p.peek() != ')' {
			return 0, p.errorf("missing )")
		}
		p.pos++
		return v, nil
	case isDigit(c) || c == '.':
		return p.number()
	case isLetter(c):
		return p.name()
	}
	return 0, p.errorf("unexpected %q", p.s[p.pos:p.pos+1])
}

func (p *parser) number() (float64, error) {
	start := p.pos
	digits := 0
	for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
		p.pos++
		digits++
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
			p.pos++
			digits++
		}
	}
	if digits == 0 {
		p.pos = start
		return 0, p.errorf("malformed number")
	}
	// An exponent only when digits follow, so "2e" stays "2" then "e".
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		q := p.pos + 1
		if q < len(p.s) && (p.s[q] == '+' || p.s[q] == '-') {
			q++
		}
		if q < len(p.s) && isDigit(p.s[q]) {
			for q < len(p.s) && isDigit(p.s[q]) {
				q++
			}
			p.pos = q
		}
	}
	text := p.s[start:p.pos]
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(v, 0) {
		p.pos = start
		return 0, p.errorf("number %s is out of range", text)
	}
	return v, nil
}

var constants = map[string]float64{"pi": math.Pi, "e": math.E}

var functions1 = map[string]func(float64) float64{
	"sqrt": math.Sqrt, "abs": math.Abs, "ln": math.Log, "log10": math.Log10, "exp": math.Exp,
	"sin": math.Sin, "cos": math.Cos, "tan": math.Tan,
	"floor": math.Floor, "ceil": math.Ceil, "round": math.Round,
}

func (p *parser) name() (float64, error) {
	start := p.pos
	for p.pos < len(p.s) && (isLetter(p.s[p.pos]) || isDigit(p.s[p.pos])) {
		p.pos++
	}
	name := strings.ToLower(p.s[start:p.pos])
	if p.peek() != '(' {
		if v, ok := constants[name]; ok {
			return v, nil
		}
		p.pos = start
		if _, ok := functions1[name]; ok || name == "min" || name == "max" {
			return 0, p.errorf("function %s needs arguments in parentheses", name)
		}
		return 0, p.errorf("unknown name %q", name)
	}
	f, ok := functions1[name]
	if !ok && name != "min" && name != "max" {
		p.pos = start
		return 0, p.errorf("unknown function %q", name)
	}
	p.pos++ // (
	if err := p.enter(); err != nil {
		return 0, err
	}
	defer p.leave()
	var args []float64
	for {
		v, err := p.expr()
		if err != nil {
			return 0, err
		}
		args = append(args, v)
		c := p.peek()
		if c == ')' {
			p.pos++
			break
		}
		if c != ',' {
			return 0, p.errorf("expected , or ) in call of %s", name)
		}
		p.pos++
	}
	var v float64
	switch name {
	case "min", "max":
		v = args[0]
		for _, a := range args[1:] {
			if name == "min" {
				v = math.Min(v, a)
			} else {
				v = math.Max(v, a)
			}
		}
	default:
		if len(args) != 1 {
			return 0, fmt.Errorf("calculator: %s takes 1 argument, got %d", name, len(args))
		}
		v = f(args[0])
	}
	return v, p.check(v, name)
}

// check turns a NaN or infinite intermediate result into an error.
func (p *parser) check(v float64, op string) error {
	switch {
	case math.IsNaN(v):
		return fmt.Errorf("calculator: %s gives an undefined result (NaN)", op)
	case math.IsInf(v, 0):
		return fmt.Errorf("calculator: %s overflows (the result is infinite)", op)
	}
	return nil
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
