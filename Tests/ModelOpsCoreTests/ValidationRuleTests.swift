import ModelOpsCore
import Testing

/// One validation rule: a `case.yaml` beside the valid base set, and the diagnostics expected in it,
/// each written `line:column: start of the message`.
struct RuleCase: CustomTestStringConvertible, Sendable {
  var name: String
  var yaml: String
  var expected: [String]
  var testDescription: String { name }

  /// The case's manifests are invalid, with exactly the expected diagnostics, in order.
  func check() {
    let (problems, result) = load(yaml)
    #expect(!result.isValid)
    #expect(problems.count == expected.count, "got: \(problems)")
    for (expected, actual) in zip(expected, problems) {
      #expect(actual.hasPrefix(expected), "expected '\(expected)…', got '\(actual)'")
    }
  }

  init(_ name: String, _ yaml: String, _ expected: String...) {
    self.name = name
    self.yaml = yaml
    self.expected = expected
  }
}

// `document()` puts apiVersion on line 1, kind 2, metadata 3, name 4 (column 9), spec 5,
// and the spec's own lines from line 6, indented to column 3.
let ruleCases: [RuleCase] = [
  // Fields
  RuleCase(
    "an unknown field is reported with a suggestion",
    document(
      "Deployment", "d2", "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nreplica: 2"),
    "9:3: unknown field 'replica' (did you mean 'replicas'?)"),
  RuleCase(
    "an unknown field far from any known one has no suggestion",
    document("Model", "m2", "aliases: {prod: {version: 1}}\nflavour: vanilla"),
    "7:3: unknown field 'flavour'"),
  RuleCase(
    "a missing required field is reported at its mapping",
    document("Pipeline", "p2", "model: fraud"),
    "6:3: missing required field 'steps' in 'spec'"),
  RuleCase(
    "a field given twice is reported at the second",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nreplicas: 1\nreplicas: 2"),
    "10:3: duplicate field 'replicas' (first given at line 9)"),
  RuleCase(
    "a string where an integer belongs is a wrong type",
    document(
      "Deployment", "d2", "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nreplicas: two"),
    "9:13: 'spec.replicas' must be an integer, got a string"),
  RuleCase(
    "a number where a string belongs says to quote it",
    document("Pipeline", "p2", "model: fraud\nparams: {C: 1.0}\nsteps: [{name: t, run: x}]"),
    "7:15: 'spec.params.C' must be a string, got a number (quote it: \"1.0\")"),
  RuleCase(
    "a scalar where a mapping belongs is a wrong type",
    document(
      "Deployment", "d2", "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nhealth: /healthz"),
    "9:11: 'spec.health' must be a mapping, got a string"),
  RuleCase(
    "yes is not a boolean (YAML 1.2)",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nrollback: {auto: yes}"),
    "9:20: 'spec.rollback.auto' must be true or false, got a string"),
  // Names
  RuleCase(
    "a name with capitals and underscores is refused",
    document("Model", "Fraud_API", "aliases: {prod: {version: 1}}"),
    "4:9: metadata.name 'Fraud_API' is not a valid name"),
  RuleCase(
    "a name longer than 63 characters is refused",
    document("Model", String(repeating: "a", count: 64), "aliases: {prod: {version: 1}}"),
    "4:9: metadata.name '\(String(repeating: "a", count: 64))' is not a valid name"),
  RuleCase(
    "a duplicate name of the same kind is refused where it repeats",
    document("Model", "fraud", "aliases: {prod: {version: 1}}"),
    "4:9: duplicate Model 'fraud' (first declared at base.yaml:3:18)"),
  RuleCase(
    "the reserved alias names of registries are refused",
    document("Model", "m2", "aliases:\n  latest: {version: 1}"),
    "7:5: alias name 'latest' is reserved by model registries"),
  // Durations, sizes, cron
  RuleCase(
    "a duration without a unit is refused",
    document("Pipeline", "p2", "model: fraud\ntimeout: 30\nsteps: [{name: t, run: x}]"),
    "7:12: 'spec.timeout' is not a duration: '30' (write it like 500ms, 30s, 5m or 2h)"),
  RuleCase(
    "a zero timeout is refused",
    document("Pipeline", "p2", "model: fraud\ntimeout: 0s\nsteps: [{name: t, run: x}]"),
    "7:12: 'spec.timeout' must be longer than 0s"),
  RuleCase(
    "a size with a decimal unit name is refused",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nresources: {memory: 512MB}"),
    "9:23: 'spec.resources.memory' is not a size: '512MB' (write it like 512Mi or 2Gi)"),
  RuleCase(
    "a cron hour out of range is refused",
    document("Pipeline", "p2", "model: fraud\nsteps: [{name: t, run: x}]\ntriggers: {schedule: \"0 25 * * *\"}"),
    "8:24: hour value out of range in '25' (allowed 0-23)"),
  RuleCase(
    "a cron expression with four fields is refused",
    document("Pipeline", "p2", "model: fraud\nsteps: [{name: t, run: x}]\ntriggers: {schedule: \"0 3 * *\"}"),
    "8:24: cron schedule '0 3 * *' has 4 fields, expected 5"),
  RuleCase(
    "an unknown time zone is refused",
    document(
      "Pipeline", "p2",
      "model: fraud\nsteps: [{name: t, run: x}]\ntriggers: {schedule: \"@daily\", timezone: Mars/Olympus}"),
    "8:44: unknown time zone 'Mars/Olympus'"),
  // References
  RuleCase(
    "a deployment of a missing model is refused",
    document("Deployment", "d2", "model: nope@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001"),
    "6:10: 'spec.model' refers to Model 'nope', which is not declared"),
  RuleCase(
    "a deployment of a missing alias is refused",
    document("Deployment", "d2", "model: fraud@prod\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001"),
    "6:10: model 'fraud' has no alias 'prod' (it declares 'staging', 'production')"),
  RuleCase(
    "a model reference without an alias or version is refused",
    document("Deployment", "d2", "model: fraud\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001"),
    "6:10: 'spec.model' must be NAME@ALIAS or NAME@VERSION"),
  RuleCase(
    "a monitor of a missing deployment is refused with a suggestion",
    document("Monitor", "m2", "deployment: fraud-apu\nsource: {scrape: {}}\nmetric: {gauge: up}\nthreshold: {min: 1}"),
    "6:15: 'spec.deployment' refers to Deployment 'fraud-apu', which is not declared (did you mean 'fraud-api'?)"),
  RuleCase(
    "an analysis monitor must watch the deployment it analyses",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nanalysis: {monitors: [fraud-errors]}"),
    "9:25: monitor 'fraud-errors' watches deployment 'fraud-api', so it cannot analyse 'd2'"),
  RuleCase(
    "a model's pipeline must train that model",
    document("Model", "m2", "pipeline: fraud-train\naliases: {prod: {version: 1}}"),
    "6:13: pipeline 'fraud-train' trains model 'fraud', not 'm2'"),
  RuleCase(
    "an alert trigger must name a monitor",
    document("Pipeline", "p2", "model: fraud\nsteps: [{name: t, run: x}]\ntriggers: {onAlert: [fraud-errors, ghost]}"),
    "8:38: 'spec.triggers.onAlert' refers to Monitor 'ghost', which is not declared"),
  RuleCase(
    "two deployments cannot listen on the same address",
    document("Deployment", "d2", "model: fraud@production\ncommand: [python3, s.py]\nlisten: 0.0.0.0:9000"),
    "8:11: 'spec.listen' 0.0.0.0:9000 is already used by deployment 'fraud-api' (base.yaml:23:11)"),
  // Strategy
  RuleCase(
    "a field of another strategy type is refused",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: rolling\n  steps: [{weight: 10}]"
    ),
    "11:5: 'steps' applies only to strategy type 'canary', not 'rolling'"),
  RuleCase(
    "an unknown strategy type gets a suggestion",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy: {type: canery, steps: [{weight: 10}]}"
    ),
    "9:20: unknown strategy type 'canery' (did you mean 'canary'?)"),
  RuleCase(
    "canary weights above 100 are refused",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps:\n    - {weight: 50}\n    - {weight: 150}"
    ),
    "13:18: 'spec.strategy.steps[1].weight' must be between 1 and 100, got 150"),
  RuleCase(
    "canary weights that do not increase are refused",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps:\n    - {weight: 50}\n    - {weight: 10}"
    ),
    "13:18: canary weights must increase: 10 after 50 (line 12)"),
  RuleCase(
    "a mirror step comes before the weight steps",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps:\n    - {weight: 50}\n    - {mirror: 100}"
    ),
    "13:18: a mirror step must come before the weight steps"),
  RuleCase(
    "a canary step has a weight or a mirror share, not both",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps:\n    - {weight: 50, mirror: 100}"
    ),
    "12:22: 'spec.strategy.steps[0]' takes only one of weight, mirror; got weight and mirror"),
  RuleCase(
    "compare without a mirror step is refused",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps: [{weight: 50}]\n  compare: {field: p}"
    ),
    "12:5: 'compare' judges a mirror step's answers, and no step mirrors"),
  RuleCase(
    "a comparison's tolerance needs a field",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps: [{mirror: 100}]\n  compare: {tolerance: 0.1}"
    ),
    "12:26: 'spec.strategy.compare.tolerance' applies to a 'field'"),
  RuleCase(
    "a comparison's tolerance is not negative and its field is a path",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps: [{mirror: 100}]\n  compare: {field: out..p, tolerance: -1}"
    ),
    "12:22: 'spec.strategy.compare.field' must be a JSON field name or a dotted path"),
  RuleCase(
    "a canary match names a header or a cookie, not both",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps: [{weight: 50}]\n  match:\n    - {header: X-Canary, cookie: beta, value: a}"
    ),
    "13:28: 'spec.strategy.match[0]' takes only one of header, cookie; got header and cookie"),
  RuleCase(
    "a canary match needs a value and a valid header name",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps: [{weight: 50}]\n  match:\n    - {header: X-Canary}\n    - {header: \"X Canary\", value: a}"
    ),
    "13:9: missing required field 'value' in 'spec.strategy.match[0]'",
    "14:18: 'spec.strategy.match[1].header' must be a header name"),
  RuleCase(
    "sticky applies only to a canary",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy: {type: rolling, sticky: {cookie: session}}"
    ),
    "9:29: 'sticky' applies only to strategy type 'canary', not 'rolling'"),
  RuleCase(
    "a sticky key names a header or a cookie",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy:\n  type: canary\n  steps: [{weight: 50}]\n  sticky: {}"
    ),
    "12:13: 'spec.strategy.sticky' needs one of header, cookie"),
  RuleCase(
    "a rolling update that can never progress is refused",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nstrategy: {type: rolling, maxSurge: 0, maxUnavailable: 0}"
    ),
    "9:13: 'maxSurge' and 'maxUnavailable' cannot both be 0"),
  RuleCase(
    "a port above 65535 is refused",
    document(
      "Deployment", "d2", "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nport: 70000"),
    "9:9: 'spec.port' must be between 1 and 65535, got 70000"),
  RuleCase(
    "a listen port of 0 is refused",
    document("Deployment", "d2", "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:0"),
    "8:11: 'spec.listen' must be HOST:PORT with a port from 1 to 65535"),
  RuleCase(
    "the docker runtime needs an image",
    document("Deployment", "d2", "model: fraud@production\nruntime: docker\nlisten: 127.0.0.1:9001"),
    "6:3: the docker runtime needs 'image' in 'spec'"),
  RuleCase(
    "an image reference is checked where it is written",
    document(
      "Deployment", "d2",
      "model: fraud@production\nruntime: docker\nimage: Localhost/Serving Image:1\nlisten: 127.0.0.1:9001"),
    "8:10: 'spec.image' is not an image reference ([HOST/]NAME[:TAG][@sha256:DIGEST], the name lowercase), got 'Localhost/Serving Image:1'"
  ),
  RuleCase(
    "a pipeline's image reference too",
    document("Pipeline", "p2", "model: fraud\nimage: ../trainer\nsteps: [{name: train, run: python3 train.py}]"),
    "7:10: 'spec.image' is not an image reference"),
  RuleCase(
    "variables the agent sets cannot be overridden",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nlisten: 127.0.0.1:9001\nenv: {PORT: \"1\"}"),
    "9:9: 'PORT' is set by the agent and cannot be overridden in 'spec.env'"),
  // Aliases and gates
  RuleCase(
    "gates on a pinned alias are refused",
    document("Model", "m2", "aliases:\n  prod:\n    version: 2\n    gates: [{metric: auc, min: 0.9}]"),
    "9:7: 'gates' applies only to a policy alias; 'prod' is pinned to a version"),
  RuleCase(
    "a from alias that does not exist is refused",
    document("Model", "m2", "aliases:\n  canary:\n    policy: latest-passing\n    from: stagin"),
    "9:13: 'spec.aliases.canary.from' names alias 'stagin', which this model does not declare"),
  RuleCase(
    "a gate that beats a missing alias is refused",
    document("Model", "m2", "aliases:\n  canary:\n    policy: latest-passing\n    gates: [{metric: auc, beats: prod}]"),
    "9:36: 'spec.aliases.canary.gates[0].beats' names alias 'prod', which this model does not declare"),
  RuleCase(
    "an alias with both a version and a policy is refused",
    document("Model", "m2", "aliases:\n  prod: {version: 2, policy: latest-passing}"),
    "7:24: alias 'prod' has both 'version' and 'policy'"),
  RuleCase(
    "soak without from is refused",
    document("Model", "m2", "aliases:\n  canary: {policy: latest-passing, soak: 24h}"),
    "7:38: 'soak' needs 'from'"),
  RuleCase(
    "a promotion order that loops is refused",
    document("Model", "m2", "aliases:\n  a: {policy: latest-passing, from: b}\n  b: {policy: latest-passing, from: a}"),
    "7:39: promotion order of alias 'a' is a loop", "8:39: promotion order of alias 'b' is a loop"),
  RuleCase(
    "a gate without a bound is refused",
    document("Model", "m2", "aliases:\n  s: {policy: latest-passing, gates: [{metric: auc}]}"),
    "7:41: gate on 'auc' needs 'min', 'max' or 'beats'"),
  // Paths
  RuleCase(
    "a workdir that climbs out of the repository is refused",
    document("Pipeline", "p2", "model: fraud\nworkdir: training/../../etc\nsteps: [{name: t, run: x}]"),
    "7:12: 'spec.workdir' must be a path inside the repository, got 'training/../../etc'"),
  RuleCase(
    "an absolute workdir is refused",
    document("Pipeline", "p2", "model: fraud\nworkdir: /etc\nsteps: [{name: t, run: x}]"),
    "7:12: 'spec.workdir' must be a path inside the repository, got '/etc'"),
  RuleCase(
    "a dvc pointer outside the repository is refused",
    document(
      "Pipeline", "p2", "model: fraud\ninputs: [{name: labels, dvc: ../labels.csv.dvc}]\nsteps: [{name: t, run: x}]"),
    "7:32: 'spec.inputs[0].dvc' must be a path inside the repository, got '../labels.csv.dvc'"),
  RuleCase(
    "a relative host input path is refused",
    document("Pipeline", "p2", "model: fraud\ninputs: [{name: data, path: data.csv}]\nsteps: [{name: t, run: x}]"),
    "7:31: 'spec.inputs[0].path' must be an absolute path on the agent's host, got 'data.csv'"),
  RuleCase(
    "params whose variables collide are refused",
    document("Pipeline", "p2", "model: fraud\nparams: {max-iter: \"1\", max_iter: \"2\"}\nsteps: [{name: t, run: x}]"),
    "7:27: param 'max_iter' and 'max-iter' both become MODELOPS_PARAM_MAX_ITER"),
  // Monitors
  RuleCase(
    "metric and threshold are not used with an alertmanager source",
    document("Monitor", "m2", "deployment: fraud-api\nsource: {alertmanager: {alertname: X}}\nthreshold: {max: 1}"),
    "8:3: 'threshold' is not used with an alertmanager source"),
  RuleCase(
    "a metric is not used with a prometheus source",
    document(
      "Monitor", "m2",
      "deployment: fraud-api\nsource: {prometheus: {query: up}}\nmetric: {gauge: up}\nthreshold: {min: 1}"),
    "8:3: 'metric' is not used with a prometheus source: the query's result is the value"),
  RuleCase(
    "a prometheus source needs a threshold",
    document("Monitor", "m2", "deployment: fraud-api\nsource: {prometheus: {query: up}}"),
    "6:3: missing required field 'threshold' in 'spec'"),
  RuleCase(
    "a source with two kinds is refused",
    document(
      "Monitor", "m2",
      "deployment: fraud-api\nsource: {scrape: {}, prometheus: {query: up}}\nmetric: {gauge: up}\nthreshold: {min: 1}"),
    "7:24: 'spec.source' takes only one of scrape, prometheus, alertmanager, router; got scrape and prometheus"),
  RuleCase(
    "a router source judges only what the router measures",
    document("Monitor", "m2", "deployment: fraud-api\nsource: {router: {}}\nmetric: {gauge: up}\nthreshold: {min: 1}"),
    "8:11: a router source judges 'errorRate', 'latency' or 'agreement'"),
  RuleCase(
    "a router latency needs its quantile",
    document(
      "Monitor", "m2", "deployment: fraud-api\nsource: {router: {}}\nmetric: {latency: {q: 1.5}}\nthreshold: {max: 1}"),
    "8:25: 'spec.metric.latency.q' must be between 0 and 1"),
  RuleCase(
    "a quantile of 1 is refused",
    document(
      "Monitor", "m2",
      "deployment: fraud-api\nsource: {scrape: {}}\nmetric: {quantile: {histogram: latency, q: 1}}\nthreshold: {max: 1}"
    ),
    "8:46: 'spec.metric.quantile.q' must be between 0 and 1 (exclusive)"),
  RuleCase(
    "an unknown action gets a suggestion",
    document(
      "Monitor", "m2",
      "deployment: fraud-api\nsource: {scrape: {}}\nmetric: {gauge: up}\nthreshold: {min: 1}\nactions: [rolback]"),
    "10:13: 'spec.actions[0]' must be one of rollback, retrain, notify, got 'rolback' (did you mean 'rollback'?)"),
  // Document header
  RuleCase(
    "a wrong apiVersion is refused",
    "apiVersion: modelops/v2\nkind: Model\nmetadata: {name: m2}\nspec: {aliases: {p: {version: 1}}}\n",
    "1:13: unsupported apiVersion 'modelops/v2' (expected 'modelops/v1')"),
  RuleCase(
    "a missing apiVersion is refused",
    "kind: Model\nmetadata: {name: m2}\nspec: {aliases: {p: {version: 1}}}\n",
    "1:1: missing required field 'apiVersion' in the document"),
  RuleCase(
    "a misspelt kind gets a suggestion",
    "apiVersion: modelops/v1\nkind: Modle\nmetadata: {name: m2}\nspec: {aliases: {p: {version: 1}}}\n",
    "2:7: unknown kind 'Modle' (did you mean 'Model'?)"),
  RuleCase(
    "a document that is not a mapping is refused",
    "- just\n- a list\n",
    "1:1: a manifest must be a mapping with apiVersion, kind, metadata and spec; got a list"),
  RuleCase(
    "a YAML syntax error is located",
    "apiVersion: modelops/v1\nkind: Model\nmetadata: {name: m2\nspec: {}\n",
    "4:5: YAML syntax error: did not find expected ',' or '}' while parsing a flow mapping"),
  RuleCase(
    "an unknown YAML tag is refused",
    "apiVersion: modelops/v1\nkind: !Ref Model\n",
    "2:7: unsupported YAML tag '!Ref'"),
]

@Suite struct ValidationRuleTests {
  @Test("the base manifests are valid") func baseIsValid() {
    let (problems, result) = load("", withBase: true)
    #expect(problems == [])
    #expect(result.manifests.count == 4)
  }

  @Test(arguments: ruleCases)
  func rule(_ rule: RuleCase) { rule.check() }

  @Test func everyErrorOfARunIsReportedSortedByLine() {
    let yaml = document(
      "Deployment", "d2",
      "model: nope@x\nreplica: 2\nlisten: nowhere\nport: 0\nstrategy: {type: canary, steps: [{weight: 120}]}")
    let (problems, _) = load(yaml)
    #expect(problems.count == 6, "got: \(problems)")
    let lines = problems.compactMap { Int($0.split(separator: ":")[0]) }
    #expect(lines == lines.sorted())
    #expect(lines.first == 6)
  }

  @Test func aValidAdditionalFileIsAccepted() {
    let yaml = document(
      "Deployment", "d2",
      "model: fraud@3\nimage: localhost/x:1\nruntime: docker\nlisten: \"[::1]:9001\"\nstrategy: {type: bluegreen, previewListen: 127.0.0.1:9002}"
    )
    let (problems, result) = load(yaml)
    #expect(problems == [])
    #expect(result.manifests.deployments["d2"]?.spec.listen == ListenAddress(host: "::1", port: 9001))
  }
}
