import ModelOpsCore
import Testing

/// How a mirror step judges a pair of answers.
@Suite struct AnswerComparisonTests {
  func agree(_ comparison: AnswerComparison, _ a: String, _ b: String, statuses: (Int, Int) = (200, 200)) -> Bool {
    comparison.agree((statuses.0, Array(a.utf8)), (statuses.1, Array(b.utf8)))
  }

  @Test func aFieldIsComparedWithinTheToleranceAndTheRestIgnored() {
    let score = AnswerComparison(field: "prediction", tolerance: 0.01)
    #expect(agree(score, #"{"prediction": 0.5, "version": "1"}"#, #"{"version": "2", "prediction": 0.509}"#))
    #expect(!agree(score, #"{"prediction": 0.5}"#, #"{"prediction": 0.52}"#))
    #expect(!agree(score, #"{"prediction": 0.5}"#, #"{"prediction": 0.5}"#, statuses: (200, 500)))
    // Lists item by item, strings and booleans exactly, a missing field on one side disagrees.
    #expect(agree(score, #"{"prediction": [1, 2.001]}"#, #"{"prediction": [1.005, 2]}"#))
    #expect(!agree(score, #"{"prediction": [1, 2]}"#, #"{"prediction": [1, 2, 3]}"#))
    #expect(!agree(score, #"{"prediction": "cat"}"#, #"{"prediction": "dog"}"#))
    #expect(!agree(score, #"{"prediction": true}"#, #"{"prediction": 1}"#))
    #expect(!agree(score, #"{"prediction": 1}"#, #"{"other": 1}"#))
    // Neither answer has it (two errors alike): the statuses decide.
    #expect(agree(score, "not json", #"{"error": "x"}"#, statuses: (503, 503)))
  }

  @Test func aDottedPathReachesIntoObjects() {
    let nested = AnswerComparison(field: "output.label")
    #expect(agree(nested, #"{"output": {"label": "spam", "p": 0.9}}"#, #"{"output": {"label": "spam", "p": 0.7}}"#))
    #expect(!agree(nested, #"{"output": {"label": "spam"}}"#, #"{"output": {"label": "ham"}}"#))
  }

  @Test func withoutAFieldTheBodiesMustBeEqual() {
    let whole = AnswerComparison()
    #expect(agree(whole, "{\"p\": 1}", "{\"p\": 1}"))
    #expect(!agree(whole, "{\"p\": 1}", "{\"p\":1}"))
  }
}
