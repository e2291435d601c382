# lit configuration: every .dlir and .def file under tests/ with a RUN line is a test.
import os
import lit.formats

config.name = "dlc"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".dlir", ".def", ".test"]
config.excludes = ["fuzz", "unit", "Inputs", "lit.cfg.py", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
params = lit_config.params
# Test outputs go to the build tree, never into the sources.
config.test_exec_root = os.path.join(params["binary_dir"], "lit")
config.substitutions.append(("%dlc", params["dlc"]))
config.substitutions.append(("FileCheck", params["filecheck"]))
config.substitutions.append(("%srcroot", params["source_dir"]))
config.substitutions.append(("%not", "/usr/lib/llvm-19/bin/not"))
