import Foundation

extension CronSchedule {
  /// The latest time at or before `date` when the schedule fires, within the past 400 days.
  public func previousFire(atOrBefore date: Date, in zone: TimeZone) -> Date? {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    var day = calendar.startOfDay(for: date)
    let hoursDescending = hours.sorted(by: >)
    let minutesDescending = minutes.sorted(by: >)
    for _ in 0..<400 {
      let parts = calendar.dateComponents([.month, .day, .weekday], from: day)
      if let month = parts.month, let dom = parts.day, let weekday = parts.weekday, months.contains(month),
        matchesDay(dayOfMonth: dom, dayOfWeek: weekday - 1)
      {
        for hour in hoursDescending {
          for minute in minutesDescending {
            if let fire = calendar.date(bySettingHour: hour, minute: minute, second: 0, of: day), fire <= date {
              return fire
            }
          }
        }
      }
      guard let earlier = calendar.date(byAdding: .day, value: -1, to: day) else { return nil }
      day = earlier
    }
    return nil
  }

  private func matchesDay(dayOfMonth: Int, dayOfWeek: Int) -> Bool {
    let dom = daysOfMonth.contains(dayOfMonth)
    let dow = daysOfWeek.contains(dayOfWeek)
    if restrictsDayOfMonth && restrictsDayOfWeek { return dom || dow }
    return dom && dow
  }
}
