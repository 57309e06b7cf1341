"""Regenerate the committed *_pb2.py / *_pb2_grpc.py from the .proto files here.

Run from anywhere: ``python -m litmos_pipeline.c1.proto.generate`` (``make proto``).
protoc runs with the repository root as the include root, so generated modules
import each other as ``litmos_pipeline.c1.proto.X_pb2``. Needs grpcio-tools (a dev
dependency); the generated code only needs protobuf and grpcio at runtime.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROTO_DIR.parents[2]

# Files that define a gRPC service also get a *_pb2_grpc.py.
PROTO_FILES: tuple[str, ...] = ("config_v1.proto", "connector_v2.proto", "baton_v1.proto")
SERVICE_FILES: frozenset[str] = frozenset({"baton_v1.proto"})


def _include_dirs() -> list[Path]:
    """grpc_tools ships google/protobuf/*.proto; googleapis-common-protos ships google/rpc/*."""
    import google.rpc.status_pb2 as status_pb2
    import grpc_tools

    grpc_includes = Path(grpc_tools.__file__).resolve().parent / "_proto"
    googleapis_root = Path(status_pb2.__file__).resolve().parents[2]
    if not (googleapis_root / "google" / "rpc" / "status.proto").is_file():
        raise RuntimeError(
            f"google/rpc/status.proto not found under {googleapis_root}; "
            "is googleapis-common-protos installed?"
        )
    return [REPO_ROOT, grpc_includes, googleapis_root]


def _run_protoc(proto: str, includes: list[Path]) -> None:
    from grpc_tools import protoc

    rel = (PROTO_DIR / proto).relative_to(REPO_ROOT).as_posix()
    args = ["grpc_tools.protoc", *(f"-I{d}" for d in includes)]
    args.append(f"--python_out={REPO_ROOT}")
    if proto in SERVICE_FILES:
        args.append(f"--grpc_python_out={REPO_ROOT}")
    args.append(rel)
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed on {rel} (exit {code})")


def main() -> int:
    includes = _include_dirs()
    for proto in PROTO_FILES:
        _run_protoc(proto, includes)
        print(f"generated {proto}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
