import ArgumentParser

/// `agent`: the ModelOps GitOps agent's command line. Commands only parse and wire; the work is
/// in the library targets.
@main
struct Agent: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "agent",
    abstract: "A GitOps agent for machine learning: models, training pipelines, deployments and monitors.",
    version: "0.1.0",
    subcommands: [
      Validate.self, PlanCommand.self, ApplyCommand.self, StatusCommand.self, HistoryCommand.self, ModelsCommand.self,
      LogsCommand.self, RollbackCommand.self, PromoteCommand.self, RetryCommand.self, RunCommand.self,
      RouterCommand.self,
    ]
  )
}

/// Output formats shared by the commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}
