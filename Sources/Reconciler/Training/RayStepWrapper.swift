/// The Python program a Ray job runs around a step's command, shipped at the root of the job's
/// working_dir. On the node that runs the job it makes the run contract's folders in a fresh temp
/// folder (the run's output so far, fetched from the agent after the first step; the params
/// file), runs the command there with `MODELOPS_OUTPUT_DIR` and `MODELOPS_PARAMS` naming them,
/// and on success sends the output folder back to the agent's API as a zip (stored, no
/// compression). The run's token is removed from the command's environment. Standard library
/// only: it runs in whatever Python the cluster has.
enum RayStepWrapper {
  static let fileName = "_modelops_ray_step.py"

  static let source = #"""
    import io, json, os, shutil, subprocess, sys, tempfile, urllib.request, zipfile

    def call(method, data=None):
        request = urllib.request.Request(
            os.environ["MODELOPS_RAY_CALLBACK"], data=data, method=method,
            headers={"Authorization": "Bearer " + os.environ["MODELOPS_RAY_TOKEN"],
                     "Content-Type": "application/zip"})
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.read()

    def main():
        base = tempfile.mkdtemp(prefix="modelops-step-")
        output = os.path.join(base, "output")
        try:
            if os.environ.get("MODELOPS_RAY_FETCH") == "1":
                zipfile.ZipFile(io.BytesIO(call("GET"))).extractall(output)
            os.makedirs(output, exist_ok=True)
            params = os.path.join(base, "params.json")
            with open(params, "w") as f:
                f.write(os.environ.get("MODELOPS_PARAMS_JSON", "{}"))
            env = {k: v for k, v in os.environ.items() if not k.startswith("MODELOPS_RAY_")}
            env.pop("MODELOPS_PARAMS_JSON", None)
            env["MODELOPS_OUTPUT_DIR"] = output
            env["MODELOPS_PARAMS"] = params
            argv = json.loads(os.environ["MODELOPS_RAY_ARGV"])
            code = subprocess.call(argv, env=env)
            if code != 0:
                return code
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
                for folder, _, files in os.walk(output):
                    for name in sorted(files):
                        path = os.path.join(folder, name)
                        if os.path.isfile(path) and not os.path.islink(path):
                            archive.write(path, os.path.relpath(path, output))
            try:
                call("PUT", buffer.getvalue())
            except Exception as error:
                print("modelops: cannot send the step's output to the agent: %s" % error, file=sys.stderr)
                return 75
            return 0
        finally:
            shutil.rmtree(base, ignore_errors=True)

    sys.exit(main())
    """#
}
