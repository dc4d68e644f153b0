# Settings of the Slurm scripts (sourced; override any with the environment or CONFIG=file).
# Relative paths are relative to the directory sbatch is run from (SLURM_SUBMIT_DIR).
: "${DEEPLIFT:=deeplift}"
: "${MODELS:=fold0.onnx fold1.onnx fold2.onnx fold3.onnx fold4.onnx}"   # several folds: averaged
: "${GENOME:=genome.fa}"
: "${PEAKS:=peaks.narrowPeak}"
: "${SHUFFLES:=20}"
: "${SEED:=0}"
: "${EXTRA:=}"                     # other `deeplift explain` options
: "${OUT:=deeplift-out}"
