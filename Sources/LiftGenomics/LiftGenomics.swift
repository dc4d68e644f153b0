// LiftGenomics: see the work package that owns this module.
