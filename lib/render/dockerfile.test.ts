import { expect } from 'chai';
import { testPlan as plan } from '../../test/support/plan.js';
import { renderDockerfile } from './dockerfile.js';
import { dockerfileQuote } from './templates.js';

describe('renderDockerfile', () => {
  it('orders the steps by how often they change: dependencies, settings, source, labels', () => {
    const r = renderDockerfile(plan(), '1.0.0');
    const instructions = r.text.split('\n').filter((l) => /^[A-Z]+ /.test(l));
    expect(instructions.map((l) => l.split(' ')[0])).to.deep.equal([
      'FROM',
      'USER',
      'COPY',
      'RUN',
      'ENV',
      'USER',
      'CMD',
      'COPY',
      'LABEL',
    ]);
    // The daemon builder's USER is 1001: the dependency step runs as root, the image as 1001.
    expect(instructions[1]).to.equal('USER root');
    expect(r.dependencyStep).to.equal(4);
    expect(r.steps).to.equal(9);
    expect(instructions).to.include('CMD ["/usr/libexec/s2i/run"]').and.include('USER 1001').and.include('COPY src/ /');
  });

  it('has no dependency step when there is nothing to install', () => {
    const r = renderDockerfile(plan({ dependencies: { setupScript: undefined, requirements: undefined } }), '1.0.0');
    expect(r.dependencyStep).to.equal(undefined);
    expect(r.text).not.to.contain('assemble');
  });

  it('quotes values so the engine reads them back exactly', () => {
    expect(renderDockerfile(plan(), '1').text).to.contain('ENV GREETING="say \\"hi\\" for \\$5 \\\\o/"');
    expect(() => dockerfileQuote('two\nlines')).to.throw('cannot span lines');
  });

  it('gives the text before the source step when only the labels follow it, and none for an s2i builder', () => {
    const r = renderDockerfile(plan(), '1.0.0');
    expect(r.beforeSource).to.equal(r.text.slice(0, r.text.indexOf('COPY src/ /\n')));
    expect(r.beforeSource).to.contain('CMD ["/usr/libexec/s2i/run"]').and.not.contain('LABEL');
    const s2i = renderDockerfile(
      plan({ builder: { style: 's2i', image: 'b', scriptsDir: '/s2i', destination: '/tmp', user: '1001' } }),
      '1.0.0',
    );
    expect(s2i.beforeSource).to.equal(undefined);
  });
});
