// The work behind the commands. The argument structs in Commands/ parse and validate the
// command line and check that the named files exist; these functions do the rest (load the
// model, read the arrays, compute, write the output with LiftIO's atomic writers).
//
// Conventions: throw library errors as they are (NumpyIOError, ExplainError, …: reported as
// `error: <description>`, exit 1) or CLIError.data / CLIError.usage for problems found here.
// Never print partial results; write outputs only through NumPy.write / writeArchive /
// NpyStreamWriter so a failure leaves no file.

/// Runs `deeplift explain`.
func runExplain(_ request: ExplainRequest) throws {
  throw CLIError.data("explain: not implemented in this build")
}

/// Runs `deeplift predict`.
func runPredict(_ request: PredictRequest) throws {
  throw CLIError.data("predict: not implemented in this build")
}

/// Runs `deeplift inspect`.
func runInspect(model: String, common: CommonOptions) throws {
  throw CLIError.data("inspect: not implemented in this build")
}
