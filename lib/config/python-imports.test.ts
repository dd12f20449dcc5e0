import { expect } from 'chai';
import { findImports } from './python-imports.js';

describe('findImports', () => {
  it('finds plain, dotted, aliased, from and relative imports with their lines', () => {
    const found = findImports(
      [
        'import os, a.b as c',
        'from x.y import (z,',
        '    w as v)',
        'from . import q',
        'from ..m import n',
        'from ...deep import *',
        '',
      ].join('\n'),
    );
    expect(found.map((i) => [i.module, i.level, i.names.join(','), i.line])).to.deep.equal([
      ['os', 0, '', 1],
      ['a.b', 0, '', 1],
      ['x.y', 0, 'z,w', 2],
      ['', 1, 'q', 4],
      ['m', 2, 'n', 5],
      ['deep', 3, '*', 6],
    ]);
  });

  it('marks imports the code copes without: try/except ImportError and if TYPE_CHECKING', () => {
    const src = [
      'try:',
      '    import ujson as json',
      'except ImportError:',
      '    import json',
      'try:',
      '    import needed',
      'except ValueError:',
      '    pass',
      'try:',
      '    import anything',
      'except (OSError, ModuleNotFoundError) as e:',
      '    pass',
      'if TYPE_CHECKING:',
      '    from pandas import DataFrame',
      'def later():',
      '    import lazy',
      '',
    ].join('\n');
    expect(findImports(src).map((i) => [i.module, i.optional])).to.deep.equal([
      ['ujson', true],
      ['json', false],
      ['needed', false],
      ['anything', true],
      ['pandas', true],
      ['lazy', false],
    ]);
  });

  it('ignores import-like text in strings and comments, and survives syntax errors elsewhere', () => {
    const src = 's = """\nimport fake\n"""\n# import commented\ndef broken(:\n    pass\nimport real\n';
    expect(findImports(src).map((i) => i.module)).to.deep.equal(['real']);
  });
});
