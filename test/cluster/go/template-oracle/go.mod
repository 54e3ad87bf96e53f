// The oracle for kanaria's Go template rendering (src/metrics/go-template.ts): Go's own
// text/template, standard library only. Built by test/cluster/template-oracle.sh.
module kanaria.test/cluster/template-oracle

go 1.26.0
