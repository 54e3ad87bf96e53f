// `kanaria validate PATH...`: the GitOps pull-request check for kanaria.dev manifests.
import { type Command, Option } from "commander";
import { formatJson, formatText } from "../../validate/format.ts";
import { validatePaths } from "../../validate/index.ts";

interface ValidateFlags {
  format: "text" | "json";
  strict?: boolean;
  quiet?: boolean;
}

const HELP_AFTER = `
Directories are searched recursively for *.yaml and *.yml, skipping dot-directories, node_modules,
Helm chart templates and the patch files that a kustomization.yaml lists (partial objects).
Every kanaria.dev object is checked against the API schema, and its metadata and top-level fields as
the API server checks them (DNS-1123 names, label keys, unknown fields). A Canary, MetricTemplate or
AlertProvider under another apiVersion (flagger.app/v1beta1, v1, "", an unrendered template) is an
error; other objects are ignored. List documents (kind List or *List, as kubectl get -o yaml writes)
are unpacked. Files are read as kubectl reads them: UTF-8, or
UTF-16 with a byte order mark; other encodings are an error. Limits: 4 MiB per file, 100000 YAML values
per object (a document or a List item), 100 levels of nesting, each one error where it is crossed;
500000 values per run in the objects the cross-object checks keep; the first 10000 problems are listed.
Cross-object checks:
  - a metric's templateRef or an alert's providerRef naming an object that is not among the files (warning;
    it may exist in the cluster). A reference without namespace means the Canary's namespace, and an
    object without metadata.namespace counts as being in the namespace of the object referring to it.
  - a targetRef Deployment (apps/v1) among the files without a container port matching
    service.targetPort (or service.port) (error)
  - two Canaries with the same target (error; Canaries without namespace conflict only within one directory)
  - spec.autoscalerRef against the HorizontalPodAutoscalers (autoscaling/*) and KEDA ScaledObjects
    (keda.sh/*) among the files (errors): the named one of another kind, or not scaling the target
    (an HPA scaleTargetRef needs apiVersion apps/v1); primaryScalerReplicas that would not be honoured
    against its bounds; primaryScalerQueries keys naming no trigger, or a trigger without metadata.query.
    Warnings: the named one missing while the target Deployment is among the files, primaryScalerReplicas
    lowering its minimum, an HPA with minReplicas 0, a trigger naming the target outside metadata.query.
    An HPA or ScaledObject of the target or of <target>-primary that autoscalerRef does not name is an
    error (it fights kanaria over replicas). Notes show the query each trigger of the primary's copy runs.

Exit codes: 0 no errors, 1 an object is invalid (with --strict: or has a warning), 2 usage or I/O error.`;

export function register(program: Command): void {
  program
    .command("validate")
    .description("check kanaria.dev manifests in YAML files and directories (e.g. a GitOps repository)")
    .argument("<paths...>", "YAML files, or directories searched recursively for *.yaml and *.yml")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
    .option("--strict", "fail on warnings too")
    .option("-q, --quiet", "print only the problems, without the summary line")
    .addHelpText("after", HELP_AFTER)
    .action(async (paths: string[], flags: ValidateFlags) => {
      const result = await validatePaths(paths, { strict: flags.strict === true });
      for (const e of result.ioErrors) process.stderr.write(`kanaria validate: ${e.path}: ${e.message}\n`);
      process.stdout.write(
        flags.format === "json" ? formatJson(result) : formatText(result, { quiet: flags.quiet === true }),
      );
      // program.ts returns process.exitCode from main(); library code never exits the process.
      process.exitCode = result.exitCode;
    });
}
