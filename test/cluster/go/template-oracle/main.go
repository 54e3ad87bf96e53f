// Command template-oracle renders MetricTemplate queries the way Flagger does: Go's text/template
// with missingkey=error, nil data and one function per model value. It reads a JSON array of
// {"template": ..., "model": {...}} from stdin and writes a JSON array of {"ok": true, "output": base64}
// or {"ok": false, "error": message}, one per case, so a test can compare kanaria's rendering byte for byte.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"text/template"
)

type model struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Target    string            `json:"target"`
	Service   string            `json:"service"`
	Ingress   string            `json:"ingress"`
	Route     string            `json:"route"`
	Interval  string            `json:"interval"`
	Variables map[string]string `json:"variables"`
}

type testCase struct {
	Template string `json:"template"`
	Model    model  `json:"model"`
}

type result struct {
	OK     bool   `json:"ok"`
	Output []byte `json:"output"`
	Error  string `json:"error,omitempty"`
}

func functions(m model) template.FuncMap {
	value := func(s string) func() string { return func() string { return s } }
	return template.FuncMap{
		"name":      value(m.Name),
		"namespace": value(m.Namespace),
		"target":    value(m.Target),
		"service":   value(m.Service),
		"ingress":   value(m.Ingress),
		"route":     value(m.Route),
		"interval":  value(m.Interval),
		"variables": func() map[string]string { return m.Variables },
	}
}

func render(c testCase) result {
	t, err := template.New("query").Option("missingkey=error").Funcs(functions(c.Model)).Parse(c.Template)
	if err != nil {
		return result{Error: err.Error()}
	}
	var out bytes.Buffer
	if err := t.Execute(&out, nil); err != nil {
		return result{Error: err.Error()}
	}
	return result{OK: true, Output: out.Bytes()}
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString("template-oracle: " + err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		results[i] = render(c)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Exit(1)
	}
}
