// deeplift-example-top-positions: which bases of each sequence drive a genomics model's
// prediction? Uses only the public LiftKit API.
//
//   swift run deeplift-example-top-positions [MODEL.h5] [SEQUENCES.npy] [--task K] [--top N]
//
// Defaults: Examples/genomics/model.h5 and Examples/genomics/sequences.npy (one-hot
// [N, L, 4], channels A, C, G, T), task 0, the top 5 positions. References: 10 dinucleotide
// shuffles of every sequence (seed 0), as the original deeplift's genomics notebook does.

import Foundation
import LiftKit

var positional: [String] = []
var task = 0
var top = 5
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
  switch argument {
  case "--task", "--top":
    guard let value = arguments.popFirst().flatMap(Int.init), value >= 0 else {
      FileHandle.standardError.write(Data("error: \(argument) needs a non-negative integer\n".utf8))
      exit(2)
    }
    if argument == "--task" { task = value } else { top = value }
  case "-h", "--help":
    print("usage: deeplift-example-top-positions [MODEL.h5] [SEQUENCES.npy] [--task K] [--top N]")
    exit(0)
  default:
    positional.append(argument)
  }
}
let modelPath = positional.count > 0 ? positional[0] : "Examples/genomics/model.h5"
let sequencesPath = positional.count > 1 ? positional[1] : "Examples/genomics/sequences.npy"

do {
  let model = try Model(contentsOf: URL(fileURLWithPath: modelPath))
  let sequences = try readArray(at: URL(fileURLWithPath: sequencesPath))
  guard sequences.rank == 3 else {
    throw LiftKitError.arrays(
      "\(sequencesPath): expected one-hot sequences [N, L, 4], got shape \(sequences.shape)")
  }
  var options = AttributionOptions(tasks: .task(task))
  options.batchSize = 160
  // The Captum/SHAP max-pool rule keeps summation-to-delta with shuffled references.
  options.maxPool = .deepshap
  let explainer = try model.explainer(method: .genomicsDefault, options: options)
  let result = try explainer.explain(inputs: [sequences], references: .shuffles(count: 10, seed: 0))
  print(
    "model \(modelPath): target '\(result.target)', task \(task), genomics-default (deepshap max-pool rule), 10 shuffled references"
  )
  print("worst |sum(scores) - delta| = \(result.worstConvergenceDelta)")

  // Scores are [N, L, 4]; on one-hot input only the observed base has a nonzero score, so the
  // sum over the channels is the score of the base at each position.
  let scores = result.scores[0]
  let (n, length, depth) = (scores.shape[0], scores.shape[1], scores.shape[2])
  let bases = Array("ACGT")
  for example in 0..<n {
    var perPosition: [(position: Int, score: Float, base: Character)] = []
    for p in 0..<length {
      var score: Float = 0
      var base: Character = "N"
      for c in 0..<depth {
        let i = (example * length + p) * depth + c
        score += scores.scalars[i]
        if sequences.scalars[i] == 1, c < bases.count { base = bases[c] }
      }
      perPosition.append((p, score, base))
    }
    let best = perPosition.sorted { $0.score > $1.score }.prefix(top)
    let text = best.map { "\($0.position)\($0.base) \(String(format: "%+.3f", $0.score))" }.joined(
      separator: ", ")
    print("sequence \(example): \(text)")
  }
} catch let error as LiftKitError {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
} catch let error as ModelError {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
