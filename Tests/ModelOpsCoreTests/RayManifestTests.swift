import ModelOpsCore
import Testing

/// The fields the Ray runtime adds, read and refused like every other field.
let rayRuleCases: [RuleCase] = [
  RuleCase(
    "a Ray pipeline has no image",
    document("Pipeline", "p2", "model: fraud\nruntime: ray\nimage: python:3.12\nsteps: [{name: t, run: x}]"),
    "8:10: 'spec.image' is not used with 'runtime: ray'"),
  RuleCase(
    "a Ray pipeline reads no host path",
    document(
      "Pipeline", "p2", "model: fraud\nruntime: ray\ninputs: [{name: d, path: /data/x.csv}]\nsteps: [{name: t, run: x}]"
    ),
    "8:11: input 'd': the host path /data/x.csv is not on the Ray nodes"),
  RuleCase(
    "resources are for Ray pipelines",
    document("Pipeline", "p2", "model: fraud\nresources: {cpus: 2}\nsteps: [{name: t, run: x}]"),
    "7:14: 'spec.resources' is for 'runtime: ray'"),
  RuleCase(
    "a docker pipeline needs an image",
    document("Pipeline", "p2", "model: fraud\nruntime: docker\nsteps: [{name: t, run: x}]"),
    "6:3: 'spec.runtime: docker' needs 'spec.image'"),
  RuleCase(
    "negative CPUs are refused",
    document("Pipeline", "p2", "model: fraud\nruntime: ray\nresources: {cpus: -1}\nsteps: [{name: t, run: x}]"),
    "8:21: 'spec.resources.cpus' must be a number of 0 or more units"),
  RuleCase(
    "a Ray deployment needs spec.ray",
    document("Deployment", "d2", "model: fraud@production\nruntime: ray\nlisten: 127.0.0.1:9001"),
    "6:3: 'runtime: ray' needs 'spec.ray'"),
  RuleCase(
    "a Ray deployment has no command, port or replicas",
    document(
      "Deployment", "d2",
      "model: fraud@production\nruntime: ray\nray: {importPath: serve:app}\ncommand: [python3, s.py]\nreplicas: 2\n"
        + "listen: 127.0.0.1:9001"),
    "9:12: 'spec.command' is not used with 'runtime: ray'", "10:13: 'spec.replicas' is not used with 'runtime: ray'"),
  RuleCase(
    "spec.ray is for Ray deployments",
    document(
      "Deployment", "d2",
      "model: fraud@production\ncommand: [python3, s.py]\nray: {importPath: serve:app}\nlisten: 127.0.0.1:9001"),
    "8:8: 'spec.ray' is for 'runtime: ray'"),
  RuleCase(
    "an import path is MODULE:ATTRIBUTE",
    document(
      "Deployment", "d2", "model: fraud@production\nruntime: ray\nray: {importPath: serve.py}\nlisten: 127.0.0.1:9001"),
    "8:21: 'spec.ray.importPath' must be MODULE:ATTRIBUTE"),
  RuleCase(
    "replicas name the Serve deployment they apply to",
    document(
      "Deployment", "d2",
      "model: fraud@production\nruntime: ray\nray: {importPath: serve:app, replicas: 2}\nlisten: 127.0.0.1:9001"),
    "8:42: 'spec.ray.deployment' is needed with replicas"),
  RuleCase(
    "replicas or autoscaling, not both",
    document(
      "Deployment", "d2",
      "model: fraud@production\nruntime: ray\nray: {importPath: serve:app, deployment: M, replicas: 2, "
        + "autoscaling: {min: 1, max: 3}}\nlisten: 127.0.0.1:9001"),
    "8:73: 'spec.ray' takes 'replicas' or 'autoscaling', not both"),
  RuleCase(
    "health on Ray is Serve's status, not a path",
    document(
      "Deployment", "d2",
      "model: fraud@production\nruntime: ray\nray: {importPath: serve:app}\nlisten: 127.0.0.1:9001\n"
        + "health: {path: /healthz}"),
    "10:12: 'spec.health.path' is not used with 'runtime: ray'"),
]

@Suite struct RayManifestTests {
  @Test(arguments: rayRuleCases)
  func rule(_ rule: RuleCase) { rule.check() }

  @Test func rayFieldsAreRead() throws {
    let yaml =
      document(
        "Pipeline", "p2",
        "model: fraud\nruntime: ray\nresources: {cpus: 1, gpus: \"0.5\", memory: 2Gi}\nsteps: [{name: t, run: x}]")
      + "---\n"
      + document(
        "Deployment", "d2",
        "model: fraud@production\nruntime: ray\nray:\n  importPath: serving.app:app\n  deployment: Model\n"
          + "  autoscaling: {min: 1, max: 4}\n  actorOptions: {cpus: 0.25, memory: 512Mi}\nlisten: 127.0.0.1:9001")
    let (problems, result) = load(yaml)
    #expect(problems == [])
    let pipeline = try #require(result.manifests.pipelines["p2"])
    #expect(pipeline.spec.runtime == .ray)
    #expect(pipeline.spec.resources == RayResources(cpus: 1, gpus: 0.5, memory: ByteSize(parsing: "2Gi")))
    let ray = try #require(result.manifests.deployments["d2"]?.spec.ray)
    #expect(ray.importPath == "serving.app:app")
    #expect(ray.deployment == "Model")
    #expect(ray.autoscaling == RayServeOptions.Autoscaling(min: 1, max: 4))
    #expect(ray.actorOptions == RayResources(cpus: 0.25, memory: ByteSize(parsing: "512Mi")))
  }

  @Test func runtimeRayNeedsARayClusterWhereTheConfigurationIsKnown() {
    let yaml = document("Pipeline", "p2", "model: fraud\nruntime: ray\nsteps: [{name: t, run: x}]")
    var options = LoadOptions()
    options.rayConfigured = false
    let (problems, _) = load(yaml, options: options)
    #expect(problems.contains { $0.contains("pipeline 'p2' has 'runtime: ray', and agent.yaml names no Ray cluster") })
    options.rayConfigured = true
    #expect(load(yaml, options: options).0 == [])
  }

  @Test func theRaySectionOfAgentYAMLIsReadAndChecked() throws {
    let good = AgentConfig.parse(
      Array(
        "source: {url: /r}\nray: {address: 'http://10.0.0.2:8265/', token: {env: RAY_TOKEN}, serve: {port: 8001}}\n"
          .utf8), path: "agent.yaml")
    let ray = try #require(try good.get().ray)
    #expect(ray.address == "http://10.0.0.2:8265")
    #expect(ray.dashboardHost == "10.0.0.2")
    #expect(ray.servePort == 8001)
    #expect(try good.get().secretVariables.contains("RAY_TOKEN"))
    let bad = AgentConfig.parse(
      Array("source: {url: /r}\nray: {address: 'ray://head:10001'}\n".utf8), path: "agent.yaml")
    guard case .failure(let error) = bad else {
      Issue.record("a ray:// address was accepted")
      return
    }
    #expect(error.description.contains("'ray.address' must be an http:// or https:// URL"))
  }
}
