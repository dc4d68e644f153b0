// LiftHDF5: see the work package that owns this module.
