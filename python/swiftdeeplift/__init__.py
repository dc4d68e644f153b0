"""swiftdeeplift: DeepLIFT in process, over the swift-deeplift library (libLiftC).

    import swiftdeeplift
    attr = swiftdeeplift.DeepLift(torch_module).attribute(x, baselines=ref, target=0)
    attr = swiftdeeplift.deep_lift_shap(model, X, target=0, n_shuffles=20, random_state=0)
    scores = swiftdeeplift.Model("model.onnx").explain(x, method="reveal-cancel")

Only numpy is required; torch (for torch modules and tensors) and Keras are optional.
"""
from ._api import DeepLift, DeepLiftShap, deep_lift_shap
from ._lib import LIB as _LIB
from ._lib import SwiftDeepLiftError
from ._model import Model

__all__ = ["DeepLift", "DeepLiftShap", "deep_lift_shap", "Model", "SwiftDeepLiftError", "library_version"]
__version__ = "0.1.0"


def library_version() -> str:
    """The C library's version string."""
    return _LIB.liftc_version().decode()
