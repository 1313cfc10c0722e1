#!/usr/bin/perl
# Sisimai on a list of files, for benchmarks/classify_bench.py.
#
#   perl benchmarks/sisimai_driver.pl [--repeat N] < paths.txt    (N >= 0; default 1)
#
# Reads one file path per line on stdin. Each file is read into memory first
# and handed to Sisimai as a scalar reference (Sisimai::Mail::Memory), so the
# timed part is decoding only, as for the Python tools; reading the file from
# a path would also split it at every body line starting with "From ".
# Options: delivered => 1 (report delivered/relayed DSNs too; those map to
# delivery_status). Sisimai 4.x reports RFC 3834 auto-replies as "vacation"
# unconditionally; Sisimai 5.x needs vacation => 1 (passed when available).
#
# Prints one JSON object per file and line, in input order:
#   {"file": PATH, "seconds": SECONDS-OF-THE-ANSWER-PASS,
#    "records": [{"address", "reason", "status", "replycode", "lhost", "smtpagent"}]}
# then one summary line:
#   {"summary": 1, "sisimai": VERSION, "messages": N, "repeat": R,
#    "seconds": WALL-TIME-OF-R-MORE-PASSES, "cpu_seconds": THEIR-CPU-TIME, "errors": E}
use strict;
use warnings;
use Getopt::Long;
use JSON::PP;
use Time::HiRes qw(time clock_gettime CLOCK_PROCESS_CPUTIME_ID);
use Sisimai;

my $repeat = 1;
GetOptions('repeat=i' => \$repeat) or die "usage: $0 [--repeat N] < paths\n";
$repeat = 0 if $repeat < 0;  # 0: the answer pass only (benchmarks/whole_process.py)

my $json = JSON::PP->new->canonical->utf8(0);
my @paths = grep { length } map { chomp; $_ } <STDIN>;
my @data;
for my $path (@paths) {
    open(my $fh, '<:raw', $path) or die "$path: $!\n";
    local $/;
    push @data, scalar <$fh>;
    close $fh;
}

(my $major = "$Sisimai::VERSION") =~ s/\A v?(\d+).*\z/$1/xs;
my @options = ('delivered' => 1);
push @options, ('vacation' => 1) if $major >= 5;

sub decode_one {
    my $ref = shift;
    my $records = eval {
        $major >= 5 ? Sisimai->rise($ref, @options) : Sisimai->make($ref, @options);
    };
    return ($records, $@);
}

# Pass 0 answers (and warms up: Sisimai loads its MTA modules lazily);
# passes 1..R are timed as a whole for the throughput figure.
my $errors = 0;
for my $i (0 .. $#data) {
    my $started = time;
    my ($records, $error) = decode_one(\$data[$i]);
    my $seconds = time - $started;
    $errors++ if $error;
    my @out;
    for my $r (@{ $records || [] }) {
        my $rcpt = $r->recipient;
        push @out, {
            'address'   => ($rcpt ? $rcpt->address : '') . '',
            'reason'    => ($r->reason // '') . '',
            'status'    => ($r->deliverystatus // '') . '',
            'replycode' => ($r->replycode // '') . '',
            'lhost'     => ($r->lhost // '') . '',
            'smtpagent' => ($r->smtpagent // '') . '',
        };
    }
    my $line = { 'file' => $paths[$i], 'seconds' => $seconds, 'records' => \@out };
    $line->{'error'} = "$error" if $error;
    print $json->encode($line), "\n";
}
my ($started, $cpu_started) = (time, clock_gettime(CLOCK_PROCESS_CPUTIME_ID));
for my $pass (1 .. $repeat) {
    decode_one(\$_) for @data;
}
my $total = time - $started;
my $cpu = clock_gettime(CLOCK_PROCESS_CPUTIME_ID) - $cpu_started;
print $json->encode({
    'summary' => 1, 'sisimai' => "$Sisimai::VERSION", 'messages' => scalar(@data),
    'repeat' => $repeat, 'seconds' => $total, 'cpu_seconds' => $cpu, 'errors' => $errors,
}), "\n";
