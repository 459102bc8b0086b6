"""How the stack's JVM components are launched: classpath, heap, GC and logging."""

from __future__ import annotations

from pathlib import Path

from sharebus.dev.stack.layout import Layout

_LOG4J2 = """\
# Console only: the stack captures stdout into .runtime/logs/<component>.log.
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}] %p %m (%c{1})%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.common.name = org.apache.kafka.common
logger.common.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = WARN
logger.metadata.name = org.apache.kafka.metadata
logger.metadata.level = WARN
logger.image.name = org.apache.kafka.image
logger.image.level = WARN
logger.server.name = org.apache.kafka.server
logger.server.level = WARN
# Denied operations (`Principal = User:x is Denied operation = READ ...`) are logged at INFO.
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = INFO
logger.rest.name = org.apache.kafka.connect.runtime.rest.RestServer
logger.rest.level = WARN
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
"""


def log4j2_config(layout: Layout) -> Path:
    path = layout.conf / "log4j2.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != _LOG4J2:
        path.write_text(_LOG4J2)
    return path


def java_argv(
    java: str, layout: Layout, heap: str, main_class: str, *args: str, properties: tuple[str, ...] = ()
) -> list[str]:
    """`java` command line for one of the stack's JVMs (heap capped, G1, log4j2 to stdout), with
    extra system `properties` (`-Dname=value`)."""
    return [
        java,
        "-Xms128m",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j2_config(layout)}",
        *properties,
        "-cp",
        f"{layout.lib}/*",
        main_class,
        *args,
    ]


def write_properties(path: Path, props: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
