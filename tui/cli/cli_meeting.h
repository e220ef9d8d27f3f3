/* cli_meeting.h - the meeting commands:
 *
 *   unum meeting summarize (--recording ID | FILE.wav) --template NAME
 *                          [--persona NAME] [-m MODEL] [--whisper MODEL] [-o REPORT.md]
 *   unum meeting list                      recordings with duration and report count
 *   unum meeting show ID                   transcript with timestamps
 *   unum meeting export ID [--format md|json|vtt|srt]
 *   unum meeting speakers ID [LABEL=NAME | LABEL=]...
 *                                          the speakers' labels, names, segments
 *                                          and time spoken; or names them
 *
 * summarize imports a WAV (or takes a stored recording), transcribes what
 * is not transcribed yet (resuming), writes the report (meeting.h), stores
 * it and prints it (or writes -o). Ctrl-C stops at the next window or
 * token: the transcript so far stays, no half report is stored (exit 1). */
#ifndef UNUM_CLI_MEETING_H
#define UNUM_CLI_MEETING_H

int cli_meeting(int argc, char **argv);

#endif
