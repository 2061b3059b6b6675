"""tf.app.flags, tf.app.run and tf.logging, as seeds 001 and 002 use them."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import conveyor.compat.v1 as tf

SRC = Path(__file__).resolve().parents[2] / "src"

PROGRAM = """
import conveyor.compat.v1 as tf

FLAGS = tf.app.flags.FLAGS
tf.app.flags.DEFINE_string('data_dir', '/tmp/cifar10_data', 'Where the data is.')
tf.app.flags.DEFINE_integer('batch_size', 128, 'Images per batch.')
tf.app.flags.DEFINE_boolean('log_device_placement', False, 'Log placement.')
tf.flags.DEFINE_float('rate', 0.1, 'A rate.')

def main(argv=None):
    tf.logging.set_verbosity(tf.logging.INFO)
    tf.logging.info('loss = %.5f, step = %d', 1.18812, 1)
    FLAGS.data_dir = FLAGS.data_dir + '/sub'
    print(FLAGS.data_dir, FLAGS.batch_size, FLAGS.log_device_placement, FLAGS.rate, argv[1:])
    return 0

if __name__ == '__main__':
    tf.app.run()
"""


def test_app_run_parses_flags_and_calls_main(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--batch_size=64",
            "--log_device_placement",
            "--rate",
            "0.5",
            "extra",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "/tmp/cifar10_data/sub 64 True 0.5 ['extra']\n"
    assert out.stderr == "INFO:tensorflow:loss = 1.18812, step = 1\n"


def test_flags_defaults_and_assignment():
    flags = tf.flags.FlagValues()
    tf.flags.DEFINE_string("name", "x", "help", flag_values=flags)
    tf.flags.DEFINE_boolean("on", True, "help", flag_values=flags)
    assert flags(["prog", "--noon"]) == ["prog"]
    assert flags.name == "x" and flags.on is False
    flags.name = "y"
    assert flags.name == "y"


def test_logging_levels_are_the_standard_librarys():
    assert tf.logging.INFO == logging.INFO and tf.logging.DEBUG == logging.DEBUG
    tf.logging.set_verbosity(tf.logging.WARN)
    assert tf.logging.get_verbosity() == logging.WARN
