"""Trino servers for versions Maven Central has no server tarball for (477 on), assembled from its jars.

lib/ is trino-main's runtime classpath plus our own main class, plugin/ each connector's jars, bin/ 476's launcher.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .artifacts import ArtifactError
from .java import find_jdk

# Trino 483's jars are Java 25 bytecode: an older javac cannot even read them to compile against.
MIN_JAVA = 25
# The class each connector's services file names: the server finds plugins through ServiceLoader.
PLUGIN_CLASSES = {
    "trino-tpch": "io.trino.plugin.tpch.TpchPlugin",
    "trino-memory": "io.trino.plugin.memory.MemoryPlugin",
}
# The server hands these to every plugin from its own class loader (the SPI and what the SPI's
# signatures use), so the published plugin folders leave them out; ours do the same.
SERVER_PROVIDED = ("trino-spi", "slice", "jackson-annotations", "opentelemetry-api", "opentelemetry-context")
_MAVEN_GROUP = "local.trino-router.assembly"

# Written for the harness, not copied: trino-server-main, which holds Trino's own main class,
# is not on Maven Central for these versions. The version Trino reports comes from our manifest.
_MAIN_SOURCE = """\
package io.trino.server;

public final class TrinoServer {
    private TrinoServer() {}

    public static void main(String[] args) {
        new Server().start(TrinoServer.class.getPackage().getImplementationVersion());
    }
}
"""


def assemble_server(version: str, target: Path, launcher_bin: Path, plugins: Iterable[str]) -> None:
    """Fills the empty folder `target` with a server of `version`: bin/, lib/, plugin/<artifact>-<version>/."""
    jdk = _jdk()
    plugin_classes = {p: _plugin_class(p) for p in plugins}  # an unknown plugin fails before the slow part
    print(f"[harness] assembling Trino {version} from Maven Central jars into {target} (first time only)",
          flush=True)
    plugin_dirs = {p: target / "plugin" / f"{p}-{version}" for p in plugin_classes}
    with tempfile.TemporaryDirectory(prefix=f"trino-assembly-{version}-") as scratch:
        work = Path(scratch)
        _copy_dependencies(work / "maven", version, target / "lib", plugin_dirs)
        _require_jar(target / "lib", "trino-main", version)
        _write_main_jar(work / "main", jdk, version, target / "lib")
        for artifact, folder in plugin_dirs.items():
            _require_jar(folder, artifact, version)
            services_jar = folder / f"{artifact}-{version}-services.jar"
            _write_services_jar(work / artifact, jdk, plugin_classes[artifact], services_jar)
    # The launcher does not depend on Trino's version: it only reads bin/launcher.properties,
    # whose main class (io.trino.server.TrinoServer) is the one we compiled.
    shutil.copytree(launcher_bin, target / "bin", symlinks=True)


def _jdk() -> Path:
    home = find_jdk(MIN_JAVA)
    if home is None:
        raise ArtifactError(f"assembling a Trino server needs a JDK {MIN_JAVA}+ (javac, jar): none in $JAVA_HOME "
                            "or /usr/lib/jvm")
    return home


def _plugin_class(artifact: str) -> str:
    if artifact not in PLUGIN_CLASSES:
        raise ArtifactError(f"no Plugin class known for {artifact}: add it to PLUGIN_CLASSES in {__file__}")
    return PLUGIN_CLASSES[artifact]


def _copy_dependencies(project: Path, version: str, lib: Path, plugin_dirs: Dict[str, Path]) -> None:
    """One Maven run over one throwaway project per folder: each gets its artifact's runtime jars."""
    if shutil.which("mvn") is None:
        raise ArtifactError("`mvn` is not installed: `apt-get install maven` (needed to fetch Trino's jars)")
    modules = {"server": _module_pom("server", "trino-main", version, lib, excluded=())}
    for artifact, folder in plugin_dirs.items():
        modules[artifact] = _module_pom(artifact, artifact, version, folder, excluded=SERVER_PROVIDED)
    for name, pom in modules.items():
        (project / name).mkdir(parents=True)
        (project / name / "pom.xml").write_text(pom)
    (project / "pom.xml").write_text(_aggregator_pom(list(modules)))
    argv = ["mvn", "--batch-mode", "--quiet", "-Dstyle.color=never", "dependency:copy-dependencies",
            "-Dmaven.artifact.threads=4"]
    if os.environ.get("MAVEN_REPO_LOCAL"):
        argv.append(f"-Dmaven.repo.local={os.environ['MAVEN_REPO_LOCAL']}")
    _run(argv, f"fetching the jars of Trino {version} with Maven", cwd=project, timeout=1800)


def _module_pom(name: str, artifact: str, version: str, output: Path, excluded: Iterable[str]) -> str:
    # Group ids prefixed to the file names: two jars of one artifact id in different groups must not collide.
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{_MAVEN_GROUP}</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.trino</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId>
    <artifactId>maven-dependency-plugin</artifactId>
    <configuration>
      <outputDirectory>{output}</outputDirectory>
      <includeScope>runtime</includeScope>
      <prependGroupId>true</prependGroupId>
      <excludeArtifactIds>{",".join(excluded)}</excludeArtifactIds>
    </configuration>
  </plugin></plugins></build>
</project>
"""


def _aggregator_pom(modules: List[str]) -> str:
    # One reactor instead of one `mvn` per folder: Maven starts once and resolves shared jars once.
    listed = "".join(f"<module>{m}</module>" for m in modules)
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{_MAVEN_GROUP}</groupId>
  <artifactId>all</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <modules>{listed}</modules>
</project>
"""


def _require_jar(folder: Path, artifact: str, version: str) -> None:
    """Maven said it succeeded; check the jar the folder exists for is really there."""
    jar = folder / f"io.trino.{artifact}-{version}.jar"
    if not jar.is_file():
        raise ArtifactError(f"Maven copied no {jar.name} into {folder}: "
                            f"is io.trino:{artifact}:{version} on Maven Central?")


def _write_main_jar(work: Path, jdk: Path, version: str, lib: Path) -> None:
    """Compiles our TrinoServer against lib/ into lib/, in a jar whose manifest names the version."""
    source = work / "src" / "io" / "trino" / "server" / "TrinoServer.java"
    source.parent.mkdir(parents=True)
    source.write_text(_MAIN_SOURCE)
    classes = work / "classes"
    _run([str(jdk / "bin" / "javac"), "-nowarn", "-d", str(classes), "-cp", f"{lib}/*", str(source)],
         f"compiling the Trino {version} main class")
    manifest = work / "MANIFEST.MF"
    manifest.write_text(f"Implementation-Title: trino-router harness main class\nImplementation-Version: {version}\n")
    jar = lib / f"trino-router-server-main-{version}.jar"
    _run([str(jdk / "bin" / "jar"), "--create", f"--file={jar}", f"--manifest={manifest}", "-C", str(classes), "."],
         f"packaging {jar.name}")


def _write_services_jar(work: Path, jdk: Path, plugin_class: str, jar: Path) -> None:
    """The jar the published plugin zips carry beside the connector: it names the Plugin class."""
    services = work / "META-INF" / "services"
    services.mkdir(parents=True)
    (services / "io.trino.spi.Plugin").write_text(plugin_class + "\n")
    _run([str(jdk / "bin" / "jar"), "--create", f"--file={jar}", "-C", str(work), "META-INF"],
         f"packaging {jar.name}")


def _run(argv: List[str], what: str, cwd: Optional[Path] = None, timeout: float = 600) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise ArtifactError(f"{what}: no end after {timeout:.0f}s ({' '.join(argv)})") from None
    if done.returncode != 0:
        raise ArtifactError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n"
                            f"{(done.stdout + done.stderr)[-3000:]}")
