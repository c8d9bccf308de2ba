package Scenegen::Admin;
# Helpers for the dashboard tests: log in with an operator token, GET and
# POST pages with the session cookie, the CSRF token of a page, failed
# records to act on. Plain HTTP through nginx (HTTP::Tiny, no redirects
# followed, cookies by hand).
use strict;
use warnings;
use Exporter 'import';
use HTTP::Tiny;
use Scenegen::Test qw(stack_env sql new_chapter);

our @EXPORT_OK = qw(admin_login admin_get admin_post csrf_of insert_failed
    form_encode);

my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0,
    max_redirect => 0);

sub form_encode {
	my (%f) = @_;
	return join '&', map {
		my $v = $f{$_};
		$v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
		"$_=$v";
	} sort keys %f;
}

sub _headers {
	my ($cookie, %h) = @_;
	$h{Cookie} = "scenegen_admin=$cookie" if defined $cookie;
	return \%h;
}

# GET $path (relative to BASE_URL) with the session cookie (or none);
# %h more headers. Returns HTTP::Tiny's answer.
sub admin_get {
	my ($path, $cookie, %h) = @_;
	return $http->request('GET', stack_env()->{BASE_URL} . $path,
	    { headers => _headers($cookie, %h) });
}

# POST the form %$form (form-encoded) to $path with the cookie.
sub admin_post {
	my ($path, $cookie, $form, %h) = @_;
	return $http->request('POST', stack_env()->{BASE_URL} . $path,
	    { headers => _headers($cookie, 'Content-Type' =>
		'application/x-www-form-urlencoded', %h),
	      content => form_encode(%$form) });
}

# Log in with $token: (the session cookie's value, the answer).
sub admin_login {
	my ($token) = @_;
	my $r = admin_post('/admin/login', undef, { token => $token });
	my $sc = $r->{headers}{'set-cookie'} // '';
	$sc = join ', ', @$sc if ref $sc;
	my ($cookie) = $sc =~ /scenegen_admin=([^;]+)/;
	return ($cookie, $r);
}

# The CSRF token a page carries in its forms.
sub csrf_of {
	my ($html) = @_;
	my ($t) = ($html // '') =~ /name="csrf" value="([^"]+)"/;
	return $t;
}

# $n failed records of a new user and chapter: ($user, $chapter, @ids).
sub insert_failed {
	my ($n, $message) = @_;
	my ($user, $chapter) = new_chapter();
	my $out = sql(qq{INSERT INTO image_generations (id, user_id,
	    chapter_id, scene_number, image_type, status, progress,
	    retry_count, attempts, error_message, prompt, style,
	    aspect_ratio, tier) SELECT gen_random_uuid(), :'u', :'c', g,
	    'scene', 'failed', 0, 3, 4, :'m', 'scene [standin:eta=0.2]',
	    'cinematic', '16:9', 'free' FROM generate_series(1, $n) g
	    RETURNING id}, u => $user, c => $chapter,
	    m => $message // 'The provider timed out after 4 attempts.');
	return ($user, $chapter, grep { length } split /\n/, $out);
}

1;
