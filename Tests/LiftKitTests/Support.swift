import Foundation

/// Fixtures shared with LiftAttributionTests (tf-keras models and the original deeplift's
/// goldens, Scripts/fixtures/make_layer_goldens.py) and LiftKerasTests.
let layerFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("LiftAttributionTests/Fixtures/layer")
let kerasFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("LiftKerasTests/Fixtures")
