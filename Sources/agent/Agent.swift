import ArgumentParser

/// `agent`: the ModelOps GitOps agent's command line. Commands only parse and wire; the work is
/// in the library targets.
@main
struct Agent: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "agent",
    abstract: "A GitOps agent for machine learning: models, training pipelines, deployments and monitors.",
    subcommands: [
      Validate.self, PlanCommand.self, ApplyCommand.self, StatusCommand.self, HistoryCommand.self, ModelsCommand.self,
      LogsCommand.self, RollbackCommand.self, PromoteCommand.self, RetryCommand.self, RunCommand.self,
      RouterCommand.self,
    ]
  )

  static let version = "0.1.0"

  /// `agent --version` (and `agent version`) print the agent's version. Not the parser's
  /// built-in flag, nor a flag of this root command: either is taken in every subcommand, so
  /// `agent models NAME --version 3` printed the agent's version instead of model version 3.
  static func main() async {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if arguments == ["--version"] || arguments == ["version"] {
      print(version)
      return
    }
    await main(nil)
  }
}

/// Output formats shared by the commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}
