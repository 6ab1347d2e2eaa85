# sockguard in a FROM-scratch image: one static binary, no shell, no libraries, not root.
#
# The build context holds only the static binary and an empty directory; scripts/build-image.sh
# builds the binary (cargo, statically linked) and then this image:
#
#   scripts/build-image.sh sockguard:local
#
# Run it with the engine socket mounted and its group added (the user is not root), and a host
# directory for the guarded socket:
#
#   docker run -d --name sockguard --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock -v /run/sockguard:/run/sockguard sockguard:local
#   export DOCKER_HOST=unix:///run/sockguard/docker.sock
FROM scratch
COPY --chown=65532:65532 run-sockguard /run/sockguard
COPY sockguard /usr/local/bin/sockguard
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sockguard"]
CMD ["serve", "--listen", "unix:///run/sockguard/docker.sock", "--upstream", "unix:///var/run/docker.sock"]
