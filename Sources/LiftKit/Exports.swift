// LiftKit is the library face of the package: importing it brings the types its API speaks
// (tensors, methods and rules, references) without further imports.
@_exported import LiftAttribution
@_exported import LiftNN
@_exported import LiftTensor
