import Foundation
import LiftIO
import LiftKit
import Testing

/// Tables as row sources: column profiles (the `--reference mean:B.csv` rows) and CSV rows.
@Suite("tables: profiles and CSV rows")
struct TableTests {
  @Test("column mean and median (odd and even numbers of rows), as numpy computes them")
  func profiles() {
    let b = Tensor(shape: [4, 2], scalars: [1, 10, 2, 40, 4, 20, 100, 30])
    // means: (1+2+4+100)/4 = 26.75, (10+40+20+30)/4 = 25; medians: (2+4)/2 = 3, (20+30)/2 = 25.
    #expect(TableProfile.mean.row(of: b).scalars == [26.75, 25])
    #expect(TableProfile.median.row(of: b).scalars == [3, 25])
    let odd = Tensor(shape: [3, 1], scalars: [5, -1, 2])
    #expect(TableProfile.median.row(of: odd).scalars == [2])
    #expect(TableProfile.mean.row(of: odd).scalars == [2])
  }

  @Test("CSV rows give [N, F] and any row range, like an array of the same numbers")
  func rows() throws {
    let table = try CSVTable.parse(Array("a,b,c\n1,2,3\n4,5,6\n7,8,9\n".utf8), name: "t.csv")
    let rows = CSVRows(table, name: "t.csv")
    #expect(rows.shapes.map(\.dimensions) == [[3, 3]])
    #expect(rows.featureNames == ["a", "b", "c"])
    let expected = Tensor(shape: [3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9])
    #expect(try rows.rows(1..<3)[0] == ArrayRows([expected]).rows(1..<3)[0])
  }
}
