/* cli_audio.h - audio subcommands. Returns the exit status (0 ok, 1 runtime
 * error, 2 usage error).
 *
 *   unum record -o FILE.wav [--seconds N] [--device NAME] [--list-devices]
 *
 * Records 16 kHz mono 16-bit PCM from the default (or named) capture device
 * until N seconds have been written or Ctrl-C, and keeps a valid WAV either
 * way (exit 0). A removed device ends the recording with a message and exit
 * 1, keeping what was recorded. --list-devices prints one capture device
 * name per line and records nothing. */
#ifndef UNUM_CLI_AUDIO_H
#define UNUM_CLI_AUDIO_H

int cli_record(int argc, char **argv);

#endif
