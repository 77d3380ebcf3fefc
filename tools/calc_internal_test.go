package tools

import (
	"math"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		expr string
		want float64
	}{
		{"1+2", 3},
		{"2*(3+4)", 14},
		{"  2 * ( 3 + 4 ) ", 14},
		{"10/4", 2.5},
		{"10%4", 2},
		{"-7%3", -1},
		{"2^10", 1024},
		{"2^3^2", 512}, // right-associative
		{"-2^2", -4},   // ^ binds tighter than unary minus
		{"2^-1", 0.5},
		{"--3", 3},
		{"+3", 3},
		{"1-2-3", -4},
		{"8/2/2", 2},
		{"1+2*3", 7},
		{".5+1.", 1.5},
		{"1.5e3", 1500},
		{"2E-2", 0.02},
		{"1e+2", 100},
		{"sqrt(16)", 4},
		{"abs(-3)", 3},
		{"ln(e)", 1},
		{"log10(1000)", 3},
		{"exp(0)", 1},
		{"sin(0)", 0},
		{"cos(0)", 1},
		{"tan(0)", 0},
		{"floor(-1.5)", -2},
		{"ceil(1.2)", 2},
		{"round(2.5)", 3},
		{"min(3, 1, 2)", 1},
		{"max(3, 1, 2)", 3},
		{"max(4)", 4},
		{"pi", math.Pi},
		{"2*pi", 2 * math.Pi},
		{"PI", math.Pi},
		{"SQRT(4)", 2},
		{"sqrt(2)^2", math.Pow(math.Sqrt(2), 2)},
		{"(((((1)))))", 1},
		{strings.Repeat("(", 99) + "1" + strings.Repeat(")", 99), 1},
		{strings.Repeat("-", 99) + "1", -1},
		{"1e308*1", 1e308},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := evaluate(tt.expr)
			if err != nil {
				t.Fatalf("evaluate(%q) error: %v", tt.expr, err)
			}
			if got != tt.want && math.Abs(got-tt.want) > 1e-12*math.Max(1, math.Abs(tt.want)) {
				t.Errorf("evaluate(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	tests := []struct {
		expr string
		want string // a substring of the error
	}{
		{"", "empty expression"},
		{"   ", "empty expression"},
		{"1/0", "division by zero"},
		{"1/(2-2)", "division by zero"},
		{"5%0", "modulo by zero"},
		{"0^-1", "division by zero"},
		{"sqrt(-1)", "NaN"},
		{"ln(-1)", "NaN"},
		{"ln(0)", "infinite"},
		{"1e308*10", "overflows"},
		{"exp(1000)", "overflows"},
		{"10^400", "overflows"},
		{"1e999", "out of range"},
		{"1+", "unexpected end"},
		{"(1+2", "missing )"},
		{"1+2)", `unexpected ")"`},
		{"2 3", `unexpected "3"`},
		{"2e", `unexpected "e"`},
		{"1..2", `unexpected "."`},
		{".", "malformed number"},
		{"foo", `unknown name "foo"`},
		{"foo(1)", `unknown function "foo"`},
		{"sqrt", "needs arguments"},
		{"sqrt()", "unexpected"},
		{"sqrt(1,2)", "takes 1 argument"},
		{"min()", "unexpected"},
		{"max(1 2)", "expected , or )"},
		{"1 & 2", `unexpected "&"`},
		{"0x10", `unexpected "x"`},
		{"import(\"os\")", "unknown function"},
		{strings.Repeat("(", 101) + "1" + strings.Repeat(")", 101), "nested too deeply"},
		{strings.Repeat("-", 101) + "1", "nested too deeply"},
		{strings.Repeat("2^", 101) + "1", "nested too deeply"},
		{strings.Repeat("1", 1001), "limit is 1000"},
	}
	for _, tt := range tests {
		name := tt.expr
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			got, err := evaluate(tt.expr)
			if err == nil {
				t.Fatalf("evaluate(%q) = %v, want error containing %q", tt.expr, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("evaluate(%q) error = %q, want it to contain %q", tt.expr, err, tt.want)
			}
		})
	}
}

func FuzzCalculator(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz seeds skipped under -short")
	}
	for _, s := range []string{"1+2*3", "-(2^3)%5", "sqrt(2)", "min(1,2,3)", "1e308*10", "((((", "2e", ".5e-3", "pi*e", "1/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		v1, err1 := evaluate(expr)
		v2, err2 := evaluate(expr)
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("evaluate(%q) not deterministic: %v, %v", expr, err1, err2)
		}
		if err1 != nil {
			return
		}
		if v1 != v2 && !(v1 == 0 && v2 == 0) {
			t.Fatalf("evaluate(%q) not deterministic: %v, %v", expr, v1, v2)
		}
		if math.IsNaN(v1) || math.IsInf(v1, 0) {
			t.Fatalf("evaluate(%q) = %v without an error", expr, v1)
		}
		if len(expr) > MaxExpressionLength {
			t.Fatalf("evaluate accepted a %d-byte expression", len(expr))
		}
	})
}
