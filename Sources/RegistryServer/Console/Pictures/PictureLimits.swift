/// The bounds of every picture the console draws, so that a page stays a bounded size whatever the
/// registry holds. A picture that leaves something out says so in its `<desc>`.
///
/// Kept beside the pictures rather than in `Limits` because nothing outside this folder reads them and no
/// configuration changes them.
enum PictureLimits {
    /// Boxes drawn in one lineage row; the rest of the row is one "+ N more" box.
    static let maxNodesPerLineageRow = 40
    /// Lineage levels drawn above and below the dataset; nodes further away are counted, not drawn.
    static let maxLineageLevelsEachWay = 12
    /// Lanes in one lineage row for edges crossing it to a level further on; an edge finding no lane is
    /// drawn straight across.
    static let maxLanesPerLineageRow = 40
    /// Lineage edges drawn (the densest possible picture, 40 boxes a row, would otherwise have no bound).
    static let maxLineageEdges = 2_000
    /// Barycentre sweeps (each one down and one up) that order the lineage rows.
    static let lineageOrderingSweeps = 4
    /// Days one daily chart spans; a longer period shows its last days.
    static let maxChartDays = 732
    /// Series in one daily chart (each needs a colour and a dash pattern that can be told apart).
    static let maxChartSeries = 8
    /// Bars in one bar chart.
    static let maxBars = 100
    /// Items a `<desc>` names one by one before it summarises the rest.
    static let maxDescribedItems = 200
    /// Characters of a prefix taken from the caller for the picture's ids.
    static let maxIDPrefixLength = 40

    /// The relations the pictures rely on (checked by a test).
    static var relationsHold: Bool {
        maxNodesPerLineageRow >= 1 && maxLineageLevelsEachWay >= 1 && maxLanesPerLineageRow >= 0
            // Each series needs its own colour and dash pattern.
            && maxChartSeries <= DailyChart.colours.count && maxChartSeries <= DailyChart.dashes.count
            // A day index must stay far inside CivilDate's Int32 arithmetic.
            && maxChartDays >= 1 && maxChartDays < Int(Int32.max) / 2
            && maxBars >= 1 && maxDescribedItems >= 1
    }
}
