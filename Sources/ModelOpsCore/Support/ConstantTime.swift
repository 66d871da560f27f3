/// Compares two secrets in constant time, so their bytes cannot be guessed by timing.
public func constantTimeEqual(_ a: String, _ b: String) -> Bool {
  let x = Array(a.utf8)
  let y = Array(b.utf8)
  var difference = x.count ^ y.count
  for index in 0..<max(x.count, y.count) {
    difference |= Int((index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0))
  }
  return difference == 0
}
