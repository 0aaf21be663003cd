"""linop: matrix-free linear operators with exact adjoints from ordinary NumPy code."""
from . import execute  # noqa: F401  (registers the default executor, "numpy")
from . import fused  # noqa: F401  (registers the fused executor "numba" and the default, "auto")
from . import foreign  # noqa: F401  (registers SciPy's and PyLops' operators with tracing)
from . import dask_exec  # noqa: F401  (registers the Dask backend; Dask itself loads on first use)
from .api import linear_transpose
from .errors import (AffineError, ArrayAssignmentError, BatchingError, ConversionError, LinopError,
                     NonLinearError, TracerMixError, UnsupportedFunctionError, ViewWriteError)
from .ir import Program, ShapeDtype
from .numpy_api.tracer import Tracer
from .tracing import trace
from .transpose import transpose

__version__ = "0.1.0"

__all__ = [
    "linear_transpose", "trace", "transpose", "Program", "ShapeDtype", "Tracer",
    "LinopError", "NonLinearError", "AffineError", "UnsupportedFunctionError", "ConversionError",
    "ArrayAssignmentError", "ViewWriteError", "TracerMixError", "BatchingError",
]

# -- coverage exports: add imports and extend __all__ below this line --
from . import scipy  # linop.scipy.{signal,ndimage,sparse,linalg}; inside linop, `import scipy` is SciPy

__all__ += ["scipy"]
from .errors import EscapedTracerError

__all__ += ["EscapedTracerError"]
from .custom import CustomLinear, custom_linear

__all__ += ["custom_linear", "CustomLinear"]

# -- operator exports: add imports and extend __all__ below this line --
from .api import vmap
from .operator import (RealLinearError, TracedLinearOperator, aslinearoperator, block, block_diag,
                       dottest, hstack, todense, vstack)

__all__ += ["vmap", "aslinearoperator", "TracedLinearOperator", "RealLinearError", "vstack",
            "hstack", "block_diag", "block", "dottest", "todense"]
from .errors import ForeignOperatorError

__all__ += ["ForeignOperatorError"]
from .errors import UnboundAxisError

__all__ += ["UnboundAxisError"]
from .errors import DenseMatrixError
from .operator import tosparse

__all__ += ["DenseMatrixError", "tosparse"]
from . import solvers  # linop.solvers.{cg, cgls, lsqr, lsmr}: vectors stay NumPy or Dask

__all__ += ["solvers"]
from .errors import NamespaceError
from .errors import InvalidArgumentError

__all__ += ["NamespaceError", "InvalidArgumentError"]
