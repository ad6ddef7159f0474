"""The pipeline's stages, one script each, run by dvc.yaml as modules (`python -m stages.<name>`): a script
named like a library (stages/evaluate.py) then cannot shadow it, since only the project root is on sys.path.

Importing this package first makes a UserError (bad params or data) end a stage with one line saying what
to fix, instead of a traceback.
"""

import sys

from reproqa.errors import report_user_errors

sys.excepthook = report_user_errors
